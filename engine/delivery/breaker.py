"""A circuit breaker per destination: when most attempts over a sliding window fail (a failing
destination, not a noisy one) the destination is paused for a while, then one probe delivery is
let through; its success closes the breaker, its failure opens it again. State lives in
:mod:`engine.delivery.shared_state`, so every worker process counts and pauses together.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from engine.delivery.shared_state import SharedState

log = logging.getLogger(__name__)

#: Failed attempts the window must hold before the breaker opens.
DEFAULT_FAILURE_THRESHOLD = 10
#: Share of the window's attempts that must have failed for the breaker to open. High, because one
#: attempt may make several calls: a 30% fault rate per call fails about half the two-call attempts.
DEFAULT_FAILURE_RATE = 0.8
#: The sliding window attempts are counted over (seconds).
DEFAULT_WINDOW_SECONDS = 30.0
#: The window is kept as counters of this many seconds each, shared by every worker process.
BUCKET_SECONDS = 1.0
#: How long an open breaker pauses the destination before a probe (seconds).
DEFAULT_OPEN_SECONDS = 30.0
#: How long a probe may take before another is let through (seconds).
PROBE_SECONDS = 60.0
#: How long others wait while a probe is out (seconds).
PROBE_WAIT_SECONDS = 1.0
#: A breaker that has tripped stays "half open" at most this long without a probe result (seconds).
TRIPPED_MEMORY_SECONDS = 86400.0


@dataclass(frozen=True)
class BreakerSettings:
    """When to pause a destination: at least ``failure_threshold`` failed attempts in the last
    ``window_seconds``, making up at least ``failure_rate`` of the attempts that gave a verdict then."""

    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    open_seconds: float = DEFAULT_OPEN_SECONDS
    enabled: bool = True
    failure_rate: float = DEFAULT_FAILURE_RATE
    window_seconds: float = DEFAULT_WINDOW_SECONDS


class CircuitBreaker:
    """Decides whether a destination may be called now.

    Example::

        breaker = CircuitBreaker(MemoryState(), {"carepatron": BreakerSettings(failure_threshold=5)})
        wait = breaker.check("carepatron")   # None: go ahead; else seconds to wait
        breaker.failed("carepatron") / breaker.succeeded("carepatron")

    Only attempts with a verdict count: a rate limit (429 with ``Retry-After``) is the
    destination working as agreed and is :meth:`released`, not counted.
    """

    def __init__(self, state: SharedState, settings: dict[str, BreakerSettings]):
        self.state = state
        self.settings = settings

    def _keys(self, destination: str) -> tuple[str, str, str, str]:
        base = f"breaker:{destination}:"
        return base + "open", base + "tripped", base + "probe", base + "failures"

    def check(self, destination: str) -> float | None:
        settings = self.settings.get(destination, BreakerSettings())
        if not settings.enabled:
            return None
        open_key, tripped, probe, _ = self._keys(destination)
        remaining = self.state.remaining(open_key)
        if remaining > 0:
            return remaining
        if self.state.remaining(tripped) > 0:
            # Half open: exactly one caller probes; the rest wait for its verdict.
            return None if self.state.set(probe, PROBE_SECONDS, only_if_absent=True) else PROBE_WAIT_SECONDS
        return None

    def _buckets(self, destination: str, settings: BreakerSettings) -> tuple[str, str, list[int]]:
        """Key prefixes of the window's attempt and failure counters, and the bucket numbers in the window."""
        base = f"breaker:{destination}:"
        now = int(time.time() // BUCKET_SECONDS)
        count = max(math.ceil(settings.window_seconds / BUCKET_SECONDS), 1)
        return base + "calls:", base + "fails:", list(range(now - count + 1, now + 1))

    def _count(self, destination: str, settings: BreakerSettings, failed: bool) -> tuple[int, int]:
        """Count one verdict in the current bucket; returns (attempts, failures) over the window."""
        calls, fails, buckets = self._buckets(destination, settings)
        keep = settings.window_seconds + BUCKET_SECONDS
        self.state.incr(f"{calls}{buckets[-1]}", keep)
        if failed:
            self.state.incr(f"{fails}{buckets[-1]}", keep)
        return (self.state.total([f"{calls}{n}" for n in buckets]),
                self.state.total([f"{fails}{n}" for n in buckets]))

    def _forget_window(self, destination: str, settings: BreakerSettings) -> None:
        calls, fails, buckets = self._buckets(destination, settings)
        self.state.delete(*(f"{prefix}{n}" for prefix in (calls, fails) for n in buckets))

    def succeeded(self, destination: str) -> None:
        settings = self.settings.get(destination, BreakerSettings())
        open_key, tripped, probe, failures = self._keys(destination)
        if self.state.remaining(tripped) > 0:
            log.info("destination %s answered the probe: circuit closed", destination)
            self.state.delete(tripped, probe, failures)
            # The failures that opened the breaker are over: they must not open it again at the next one.
            self._forget_window(destination, settings)
            return
        if settings.enabled:
            self._count(destination, settings, failed=False)

    def released(self, destination: str) -> None:
        """A call that gave no verdict (it needed a dependency first, or was rate limited) frees the probe
        slot, so the next caller probes instead of everyone waiting :data:`PROBE_SECONDS` for a verdict."""
        _, tripped, probe, _ = self._keys(destination)
        if self.state.remaining(tripped) > 0:
            self.state.delete(probe)

    def failed(self, destination: str) -> None:
        settings = self.settings.get(destination, BreakerSettings())
        if not settings.enabled:
            return
        open_key, tripped, probe, failures = self._keys(destination)
        if self.state.remaining(tripped) > 0:
            self.state.set(open_key, settings.open_seconds)
            self.state.delete(probe)
            log.warning("destination %s failed the probe: paused %.0fs more", destination, settings.open_seconds)
            return
        calls, failed = self._count(destination, settings, failed=True)
        if failed >= settings.failure_threshold and failed >= settings.failure_rate * calls:
            self.state.set(open_key, settings.open_seconds)
            self.state.set(tripped, TRIPPED_MEMORY_SECONDS)
            self._forget_window(destination, settings)
            log.warning("destination %s failed %d of %d attempts in %.0fs: circuit open for %.0fs", destination,
                        failed, calls, settings.window_seconds, settings.open_seconds)
