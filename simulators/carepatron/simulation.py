"""Everything one simulator holds: the app reads it, the Python API and ``/_sim`` change it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .faults import Faults
from .idempotency import IdempotencyCache
from .ratelimit import RateLimiter
from .store import Store
from .traffic import Traffic

#: Path under which the contract's endpoints live.
BASE_PATH = "/v1"

#: Path of the control endpoints (no API key).
CONTROL_PATH = "/_sim"


@dataclass
class Simulation:
    api_key: str
    store: Store = field(default_factory=Store)
    faults: Faults = field(default_factory=Faults)
    rate_limiter: RateLimiter = field(default_factory=RateLimiter)
    idempotency: IdempotencyCache = field(default_factory=IdempotencyCache)
    traffic: Traffic = field(default_factory=lambda: Traffic(BASE_PATH))
    #: Set on shutdown so held requests (latency, time-outs) let go at once.
    stopping: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """Forget records, faults, replays, rate counts and the log; keep the configuration."""
        self.store.reset()
        self.faults.clear()
        self.idempotency.reset()
        self.rate_limiter.reset()
        self.traffic.clear()
