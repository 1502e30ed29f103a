"""When a failed delivery is tried again, and when the engine stops trying and parks it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from engine.config.engine_config import RetryPolicyConfig

#: The shortest backoff drawn (seconds, or the ceiling when that is lower): full jitter can draw
#: about 0, and an immediate retry would only meet the same passing fault again.
JITTER_FLOOR_SECONDS = 0.1


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped, honouring the destination's ``Retry-After``.

    After ``n`` failed attempts the wait is drawn uniformly from 0 to
    ``min(max_backoff_seconds, min_backoff_seconds * 2 ** (n - 1))`` ("full jitter"), and is at
    least :data:`JITTER_FLOOR_SECONDS`. Example: with ``min_backoff_seconds=2`` the wait after
    the third attempt is between 0.1 and 8 seconds.
    """

    max_attempts: int = 12
    max_age_seconds: float = 86400.0
    min_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 600.0

    @classmethod
    def from_config(cls, config: RetryPolicyConfig) -> "RetryPolicy":
        return cls(config.max_attempts, config.max_age_seconds, config.min_backoff_seconds, config.max_backoff_seconds)

    def delay(self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after ``attempts`` failed attempts."""
        ceiling = min(self.max_backoff_seconds, self.min_backoff_seconds * (2 ** max(attempts - 1, 0)))
        delay = max((rng or random).uniform(0.0, ceiling), min(JITTER_FLOOR_SECONDS, ceiling))
        return max(delay, retry_after or 0.0)

    def exhausted(self, attempts: int, created_at: datetime, now: datetime) -> bool:
        """Whether the engine has tried long or often enough and should park the delivery."""
        return attempts >= self.max_attempts or (now - created_at).total_seconds() >= self.max_age_seconds
