"""A circuit breaker per destination: after enough passing failures in a row the destination
is paused for a while, then one probe delivery is let through; its success closes the
breaker, its failure opens it again. State lives in :mod:`engine.delivery.shared_state`, so every
worker process pauses together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from engine.delivery.shared_state import SharedState

log = logging.getLogger(__name__)

#: Passing failures in a row that open the breaker.
DEFAULT_FAILURE_THRESHOLD = 10
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
    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    open_seconds: float = DEFAULT_OPEN_SECONDS
    enabled: bool = True


class CircuitBreaker:
    """Decides whether a destination may be called now.

    Example::

        breaker = CircuitBreaker(MemoryState(), {"carepatron": BreakerSettings(failure_threshold=5)})
        wait = breaker.check("carepatron")   # None: go ahead; else seconds to wait
        breaker.failed("carepatron") / breaker.succeeded("carepatron")
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

    def succeeded(self, destination: str) -> None:
        open_key, tripped, probe, failures = self._keys(destination)
        if self.state.remaining(tripped) > 0:
            log.info("destination %s answered the probe: circuit closed", destination)
        self.state.delete(tripped, probe, failures)

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
        if self.state.incr(failures, TRIPPED_MEMORY_SECONDS) >= settings.failure_threshold:
            self.state.set(open_key, settings.open_seconds)
            self.state.set(tripped, TRIPPED_MEMORY_SECONDS)
            self.state.delete(failures)
            log.warning("destination %s failed %d times in a row: circuit open for %.0fs", destination,
                        settings.failure_threshold, settings.open_seconds)
