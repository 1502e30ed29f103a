"""Tells the queue about outbox rows that are already committed.

The rows are the truth: when the queue cannot be reached the announcement is only late,
because the sweeper queues every due row it finds. So a failure here is logged, never raised.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

log = logging.getLogger(__name__)


def announce(enqueue: Callable[..., None], delivery_ids: Iterable[int], delay: float | None = None) -> None:
    """Queue committed deliveries (each once, in order), ``delay`` seconds from now if given."""
    ids = list(dict.fromkeys(delivery_ids))
    if not ids:
        return
    try:
        enqueue(ids, delay) if delay is not None else enqueue(ids)
    except Exception:
        log.warning("queue unavailable; %d deliveries left for the sweeper", len(ids))
