"""Requests per minute per API key; over the limit the caller is told when to come back."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Callable

#: Length of the sliding window the limit counts requests in, in seconds.
WINDOW_SECONDS = 60.0


class RateLimiter:
    """A sliding one-minute window per key; ``per_minute`` None or 0 turns it off."""

    def __init__(
        self, per_minute: int | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def admit(self, key: str) -> int | None:
        """Count a request; None when admitted, else the whole seconds to wait."""
        if not self.per_minute:
            return None
        now = self._clock()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and now - seen[0] >= WINDOW_SECONDS:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return max(1, math.ceil(seen[0] + WINDOW_SECONDS - now))
            seen.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
