"""When a failed delivery is tried again, and when the engine stops trying and parks it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from engine.config import RetryPolicyConfig


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped, honouring the destination's ``Retry-After``.

    Example: with ``min_backoff_seconds=2`` the third attempt waits between 2 and 8 seconds.
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
        delay = (rng or random).uniform(self.min_backoff_seconds, max(ceiling, self.min_backoff_seconds))
        return max(delay, retry_after or 0.0)

    def exhausted(self, attempts: int, created_at: datetime, now: datetime) -> bool:
        """Whether the engine has tried long or often enough and should park the delivery."""
        return attempts >= self.max_attempts or (now - created_at).total_seconds() >= self.max_age_seconds
