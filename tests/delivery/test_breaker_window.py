"""The circuit breaker counts attempts over a sliding window: it opens on a failing destination
(most attempts failing), never on a noisy one (a share of passing faults), however the
failures happen to bunch up among the threads, and every worker process counts into one window."""

from __future__ import annotations

import random
import time
import uuid

from engine.delivery.breaker import BreakerSettings, CircuitBreaker
from engine.delivery.shared_state import MemoryState, RedisState


def test_a_noisy_destination_failing_a_third_of_attempts_never_opens_the_breaker():
    breaker = CircuitBreaker(MemoryState(), {"d": BreakerSettings()})
    rng = random.Random(3)
    # 2,000 attempts at 35% failures, with runs of a dozen failures in a row among them.
    outcomes = [rng.random() < 0.35 for _ in range(2000)] + [True] * 12 + [False] * 40
    for failed in outcomes:
        assert breaker.check("d") is None
        breaker.failed("d") if failed else breaker.succeeded("d")
    assert breaker.check("d") is None


def test_a_failing_destination_opens_the_breaker_once_most_of_the_window_fails():
    breaker = CircuitBreaker(MemoryState(), {"d": BreakerSettings(failure_threshold=10, open_seconds=5)})
    for _ in range(20):
        breaker.succeeded("d")
    failures = 0
    while breaker.check("d") is None and failures < 200:    # then it stops answering
        breaker.failed("d")
        failures += 1
    # After 20 successes it takes 80 failures (80% of 100 attempts), not the first 10.
    assert failures == 80
    assert breaker.check("d") > 4


def test_failures_older_than_the_window_no_longer_count():
    settings = BreakerSettings(failure_threshold=4, failure_rate=0.5, window_seconds=1, open_seconds=5)
    breaker = CircuitBreaker(MemoryState(), {"d": settings})
    for _ in range(3):
        breaker.failed("d")
    time.sleep(2.1)                        # those three slide out of the window
    breaker.failed("d")
    assert breaker.check("d") is None
    for _ in range(3):
        breaker.failed("d")
    assert breaker.check("d") > 4


def test_a_closed_breaker_starts_a_fresh_window_after_a_good_probe():
    breaker = CircuitBreaker(MemoryState(), {"d": BreakerSettings(failure_threshold=3, open_seconds=0.2)})
    for _ in range(3):
        breaker.failed("d")
    time.sleep(0.25)
    assert breaker.check("d") is None      # the probe
    breaker.succeeded("d")
    breaker.failed("d")                    # one failure after closing does not reopen it
    assert breaker.check("d") is None


def test_worker_processes_count_into_one_window_through_redis(redis_url):
    import redis

    prefix = f"test-{uuid.uuid4().hex}:"
    settings = {"d": BreakerSettings(failure_threshold=6, open_seconds=5)}
    one = CircuitBreaker(RedisState(redis.Redis.from_url(redis_url), prefix), settings)
    other = CircuitBreaker(RedisState(redis.Redis.from_url(redis_url), prefix), settings)
    for _ in range(3):
        one.failed("d")
        other.failed("d")
    assert one.check("d") > 4 and other.check("d") > 4
