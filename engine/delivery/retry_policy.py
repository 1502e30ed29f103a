"""When a failed delivery is tried again, and when the engine stops trying and parks it."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from engine.config.engine_config import RetryPolicyConfig

#: The shortest backoff drawn (seconds, or the ceiling when that is lower): full jitter can draw
#: about 0, and an immediate retry would only meet the same passing fault again.
JITTER_FLOOR_SECONDS = 0.1
#: Failures retried quickly before the exponential backoff starts: most passing faults (a 503, a
#: dropped connection) are over within a second, and a patient's later records wait behind them.
QUICK_RETRIES = 3
#: The longest wait of a quick retry (seconds, or the backoff ceiling when that is lower).
QUICK_RETRY_SECONDS = 1.0
#: Spread added to a destination's ``Retry-After`` (seconds), so that the deliveries it held back
#: do not all come back in the same instant.
RETRY_AFTER_SPREAD_SECONDS = 0.25


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

    def next_delay(self, failures: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after a delivery's ``failures``-th failed attempt, as the delivery service waits.

        A destination that said when to come back (``Retry-After``, a 429) is taken at its word:
        that long and a little spread, with no backoff growth, since it is not failing. A passing
        fault is retried quickly the first :data:`QUICK_RETRIES` times (within
        :data:`QUICK_RETRY_SECONDS`), then with :meth:`delay`'s backoff counted from there.
        Example: with ``min_backoff_seconds=2`` the first three retries come within a second,
        the fourth within 2 s, the fifth within 4 s.
        """
        rng = rng or random
        if retry_after is not None:
            return retry_after + rng.uniform(0.0, RETRY_AFTER_SPREAD_SECONDS)
        if failures <= QUICK_RETRIES:
            ceiling = min(QUICK_RETRY_SECONDS, self.min_backoff_seconds, self.max_backoff_seconds)
            return max(rng.uniform(0.0, ceiling), min(JITTER_FLOOR_SECONDS, ceiling))
        return self.delay(failures - QUICK_RETRIES, rng=rng)

    def exhausted(self, attempts: int, created_at: datetime, now: datetime) -> bool:
        """Whether the engine has tried long or often enough and should park the delivery."""
        return attempts >= self.max_attempts or (now - created_at).total_seconds() >= self.max_age_seconds
