"""The retry policy: exponential backoff with full jitter and a cap, Retry-After and
X-RateLimit-Reset honoured, attempts and age bounded."""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
import requests

from connectors.outbound.http_answers import retry_after_seconds
from engine.db.models import utcnow
from engine.delivery.retry_policy import JITTER_FLOOR_SECONDS, RetryPolicy


def test_backoff_grows_exponentially_with_full_jitter_up_to_the_cap():
    policy = RetryPolicy(min_backoff_seconds=1, max_backoff_seconds=8)
    rng = random.Random(1)
    third = [policy.delay(3, rng=rng) for _ in range(500)]
    # Full jitter: anywhere from (nearly) nothing to the exponential ceiling of 1 * 2**2 = 4 s.
    assert JITTER_FLOOR_SECONDS <= min(third) < 0.3 and 3.7 < max(third) <= 4
    assert sum(third) / len(third) == pytest.approx(2, abs=0.25)
    late = [policy.delay(20, rng=rng) for _ in range(500)]
    assert max(late) <= 8 and min(late) < 1


def test_a_backoff_ceiling_below_the_floor_is_kept():
    assert RetryPolicy(min_backoff_seconds=0.05, max_backoff_seconds=0.05).delay(1) <= 0.05


def test_retry_after_is_a_floor():
    assert RetryPolicy(min_backoff_seconds=0.1, max_backoff_seconds=1).delay(1, retry_after=30) == 30


def test_attempts_and_age_are_bounded():
    policy = RetryPolicy(max_attempts=3, max_age_seconds=60)
    now = utcnow()
    assert not policy.exhausted(2, now, now)
    assert policy.exhausted(3, now, now)
    assert policy.exhausted(1, now - timedelta(seconds=61), now)


def answer(**headers):
    response = requests.Response()
    response.status_code = 429
    response.headers.update(headers)
    return response


def test_retry_after_in_seconds_or_as_a_date_and_rate_limit_reset_are_read():
    assert retry_after_seconds(answer(**{"Retry-After": "7"})) == 7
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < retry_after_seconds(answer(**{"Retry-After": later})) <= 30
    assert 55 < retry_after_seconds(answer(**{"X-RateLimit-Reset": str(int(time.time()) + 60)})) <= 60
    assert retry_after_seconds(answer()) is None


def test_x_ratelimit_reset_from_carepatron_holds_the_next_attempt_back(make_runtime, simulator):
    from datetime import datetime

    import fhir_records as fr
    from test_carepatron_kinds import settle

    runtime = make_runtime()                                   # backoff of at most 0.5 s
    simulator.faults.fail_next(1, status=429, headers={"X-RateLimit-Reset": str(int(time.time()) + 3)})
    _, ids = fr.write(runtime, fr.patient("X-1"))
    [done] = settle(runtime, ids)
    assert (done.status, done.attempts) == ("delivered", 2)
    limited, retried = simulator.requests()[:2]
    assert limited["status"] == 429
    gap = datetime.fromisoformat(retried["time"]) - datetime.fromisoformat(limited["time"])
    assert gap.total_seconds() >= 1.9
