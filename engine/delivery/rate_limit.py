"""A request budget per destination shared by every worker process, on Dramatiq's
``WindowRateLimiter``: Redis-backed in the scaled mode, in memory in the embedded mode.
"""

from __future__ import annotations

import time

from dramatiq.rate_limits import WindowRateLimiter
from dramatiq.rate_limits.backend import RateLimiterBackend

#: Seconds a request waits for a slot before the delivery is retried later instead.
DEFAULT_MAX_WAIT_SECONDS = 10.0
#: The window the per-minute budget is counted over (seconds).
WINDOW_SECONDS = 60
#: Pause between two tries for a slot (seconds).
POLL_SECONDS = 0.05
#: Share of a delivery's lease a request may spend waiting for a slot: the wait happens while the
#: delivery is claimed, and a wait past the lease would look like a worker that went away.
LEASE_SHARE = 0.25


class RateLimit:
    """At most ``per_minute`` requests to one destination over any sliding minute.

    Example::

        limit = RateLimit(StubBackend(), "carepatron", per_minute=60)
        if limit.wait() is None: ...send the request...
    """

    def __init__(self, backend: RateLimiterBackend, key: str, per_minute: int,
                 max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS, window_seconds: int = WINDOW_SECONDS):
        self.per_minute = per_minute
        self.max_wait = max_wait_seconds
        # ``window_seconds`` other than a minute only for tests that cannot wait minutes.
        self.window = window_seconds
        self._limiter = WindowRateLimiter(backend, f"rate:{key}", limit=per_minute, window=window_seconds)

    def wait(self) -> float | None:
        """Take a slot, waiting up to ``max_wait``; ``None`` when taken, else seconds to come back after."""
        deadline = time.monotonic() + self.max_wait
        while True:
            with self._limiter.acquire(raise_on_failure=False) as acquired:
                if acquired:
                    return None
            if time.monotonic() >= deadline:
                # A slot frees within a second of the window sliding on; spread the returns.
                return 1.0 + min(self.window / max(self.per_minute, 1), self.window)
            time.sleep(POLL_SECONDS)


def build_rate_limits(redis_url: str | None, namespace: str, per_minute: dict[str, int],
                      lease_seconds: float | None = None) -> dict[str, RateLimit]:
    """One limit per destination that has one, on the shared Redis if there is one
    (:func:`engine.delivery.shared_state.shared_redis_url`), else in this process's memory.

    A request waits for a slot at most :data:`DEFAULT_MAX_WAIT_SECONDS`, and at most
    :data:`LEASE_SHARE` of ``lease_seconds``; then the delivery waits its turn without an attempt.
    """
    if not per_minute:
        return {}
    if redis_url:
        from dramatiq.rate_limits.backends import RedisBackend

        backend: RateLimiterBackend = RedisBackend(url=redis_url)
    else:
        from dramatiq.rate_limits.backends import StubBackend

        backend = StubBackend()
    max_wait = DEFAULT_MAX_WAIT_SECONDS if lease_seconds is None else min(DEFAULT_MAX_WAIT_SECONDS,
                                                                            lease_seconds * LEASE_SHARE)
    return {name: RateLimit(backend, f"{namespace}:{name}", limit, max_wait) for name, limit in per_minute.items()}
