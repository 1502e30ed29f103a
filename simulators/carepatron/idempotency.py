"""``Idempotency-Key`` on POST: a replay within the retention window gets the first answer.

Only successful answers are kept: a request refused for a cause the client may fix (an
unknown client, a rejected kind) must succeed when it is sent again after the fix.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from .problems import Problem

#: How long a first answer is replayed, in seconds (24 h).
RETENTION_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    mimetype: str
    stored_at: float


class IdempotencyCache:
    """First answers by (api key, method, path, Idempotency-Key)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[tuple[str, ...], Answer] = {}
        self._pending: set[tuple[str, ...]] = set()

    def begin(self, key: tuple[str, ...]) -> Answer | None:
        """The first answer to replay, or None after claiming the key for this request.

        A second request with the key while the first is still being answered gets 409.
        """
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None and self._clock() - answer.stored_at < RETENTION_SECONDS:
                return answer
            self._answers.pop(key, None)
            if key in self._pending:
                raise Problem(
                    409,
                    "idempotency-key-in-use",
                    "A request with this Idempotency-Key is still being processed.",
                )
            self._pending.add(key)
            return None

    def finish(self, key: tuple[str, ...], status: int, body: bytes, mimetype: str) -> None:
        """Release the key, keeping the answer when it was a success."""
        with self._lock:
            self._pending.discard(key)
            if 200 <= status < 300:
                self._answers[key] = Answer(status, body, mimetype, self._clock())

    def reset(self) -> None:
        with self._lock:
            self._answers.clear()
            self._pending.clear()
