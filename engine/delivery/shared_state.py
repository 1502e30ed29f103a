"""A few counters and flags with expiry, shared by every worker process: in Redis in the
scaled mode, in memory in the embedded mode. The circuit breaker keeps its state here.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

log = logging.getLogger(__name__)

#: URL schemes of a Redis server.
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class SharedState(Protocol):
    def set(self, key: str, seconds: float, only_if_absent: bool = False) -> bool: ...
    def remaining(self, key: str) -> float: ...
    def incr(self, key: str, seconds: float) -> int: ...
    def delete(self, *keys: str) -> None: ...
    def total(self, keys: list[str]) -> int: ...


class MemoryState:
    """The embedded mode's state: one process, one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, tuple[int, float]] = {}

    def _live(self, key: str) -> tuple[int, float] | None:
        found = self._values.get(key)
        if found is not None and found[1] <= time.monotonic():
            del self._values[key]
            return None
        return found

    def set(self, key: str, seconds: float, only_if_absent: bool = False) -> bool:
        with self._lock:
            if only_if_absent and self._live(key) is not None:
                return False
            self._values[key] = (1, time.monotonic() + seconds)
            return True

    def remaining(self, key: str) -> float:
        with self._lock:
            found = self._live(key)
            return max(found[1] - time.monotonic(), 0.0) if found else 0.0

    def incr(self, key: str, seconds: float) -> int:
        with self._lock:
            found = self._live(key)
            value = (found[0] if found else 0) + 1
            self._values[key] = (value, time.monotonic() + seconds)
            return value

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._values.pop(key, None)

    def total(self, keys: list[str]) -> int:
        """The sum of the counters at ``keys`` (absent or expired ones count 0)."""
        with self._lock:
            return sum(found[0] for key in keys if (found := self._live(key)) is not None)


class RedisState:
    """The scaled mode's state: every worker process sees the same keys."""

    def __init__(self, client, prefix: str):
        self.client = client
        self.prefix = prefix

    def set(self, key: str, seconds: float, only_if_absent: bool = False) -> bool:
        return bool(self.client.set(self.prefix + key, 1, px=max(int(seconds * 1000), 1), nx=only_if_absent))

    def remaining(self, key: str) -> float:
        millis = self.client.pttl(self.prefix + key)
        return millis / 1000 if millis and millis > 0 else 0.0

    def incr(self, key: str, seconds: float) -> int:
        with self.client.pipeline() as pipe:
            pipe.incr(self.prefix + key)
            pipe.pexpire(self.prefix + key, max(int(seconds * 1000), 1))
            value, _ = pipe.execute()
        return int(value)

    def delete(self, *keys: str) -> None:
        if keys:
            self.client.delete(*(self.prefix + key for key in keys))

    def total(self, keys: list[str]) -> int:
        if not keys:
            return 0
        return sum(int(value) for value in self.client.mget([self.prefix + key for key in keys]) if value is not None)


def shared_redis_url(broker_url: str, state_url: str, scaled: bool) -> str | None:
    """The Redis that holds what worker processes share: ``CAREBRIDGE_SHARED_STATE_URL``, else a
    Redis broker; ``None`` in the embedded mode (one process).

    A scaled broker that is not Redis (RabbitMQ) with no such URL is warned about: each process
    then keeps its own rate limit and circuit breaker, so the budget is multiplied by the number
    of processes and one process's breaker does not pause the others.
    """
    if not scaled:
        return None
    if state_url:
        return state_url
    if broker_url.startswith(REDIS_SCHEMES):
        return broker_url
    log.warning("CAREBRIDGE_BROKER_URL is not Redis and CAREBRIDGE_SHARED_STATE_URL is not set: each worker "
                "process keeps its own rate limits and circuit breakers; set CAREBRIDGE_SHARED_STATE_URL to a "
                "Redis URL to share them")
    return None


def build_shared_state(redis_url: str | None, namespace: str) -> SharedState:
    """Redis state when there is a shared Redis (see :func:`shared_redis_url`), else this process's memory."""
    if redis_url:
        import redis

        return RedisState(redis.Redis.from_url(redis_url), f"{namespace}:")
    return MemoryState()
