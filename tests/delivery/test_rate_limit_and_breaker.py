"""The per-destination rate limit shared by worker processes (Redis in the scaled mode), set by
CAREPATRON_RATE_LIMIT; and the circuit breaker that pauses a failing destination and probes."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

import fhir_records as fr
from delivery_config import engine_config
from dramatiq.rate_limits.backends import RedisBackend, StubBackend
from test_carepatron_kinds import settle

from engine.db.models import SyncLogEntry
from engine.delivery.breaker import BreakerSettings, CircuitBreaker
from engine.delivery.rate_limit import RateLimit
from engine.delivery.shared_state import MemoryState, RedisState
from support.engine_process import wait_until


def test_two_processes_share_one_budget_through_redis(redis_url):
    key = f"test-{uuid.uuid4().hex}"
    # Two limiters with separate connections stand for two worker processes.
    first = RateLimit(RedisBackend(url=redis_url), key, per_minute=5, max_wait_seconds=0)
    second = RateLimit(RedisBackend(url=redis_url), key, per_minute=5, max_wait_seconds=0)
    taken = [limit.wait() is None for limit in (first, second) * 4]
    assert taken.count(True) == 5


def test_a_used_up_budget_says_when_to_come_back():
    limit = RateLimit(StubBackend(), "k", per_minute=1, max_wait_seconds=0)
    assert limit.wait() is None
    assert limit.wait() > 0


def test_carepatron_rate_limit_comes_from_the_environment(make_runtime, simulator):
    runtime = make_runtime(workers=2, CAREPATRON_RATE_LIMIT="3")
    ids = [fr.write(runtime, fr.patient(f"R-{n}"))[1][0] for n in range(3)]   # 3 deliveries, 6 requests
    time.sleep(3)
    assert len(simulator.requests()) == 3
    assert runtime.destinations["carepatron"].throttle.per_minute == 3


def test_a_backlog_larger_than_the_rate_limit_spends_no_attempts_waiting_for_it(make_runtime, simulator, tmp_path):
    runtime = make_runtime(engine_config(tmp_path, max_attempts=2), workers=4, CAREPATRON_RATE_LIMIT="4")
    carepatron = runtime.destinations["carepatron"]
    assert carepatron.throttle.per_minute == 4
    # The same budget over 2 s instead of a minute, so the test need not wait minutes for slots.
    carepatron.throttle = RateLimit(StubBackend(), f"test-{uuid.uuid4().hex}", per_minute=4, max_wait_seconds=0,
                                    window_seconds=2)
    ids = [i for n in range(6) for i in fr.write(runtime, fr.patient(f"T-{n}"))[1]]   # 6 deliveries, 12 requests
    done = settle(runtime, ids)
    assert [d.status for d in done] == ["delivered"] * 6             # none parked "gave up after 2 attempts"
    assert [d.attempts for d in done] == [1] * 6                    # one attempt each, the one that went through
    with runtime.database.read() as session:
        rows = session.query(SyncLogEntry).filter(SyncLogEntry.delivery_id.in_(ids)).all()
    attempts = [r for r in rows if r.attempt is not None]
    held_back = [r for r in rows if r.status == "throttled"]
    assert sorted((r.delivery_id, r.attempt) for r in attempts) == sorted((i, 1) for i in ids)
    assert all(r.attempt is None and "GET /clients" in r.details for r in held_back), [r.details for r in held_back]
    calls = simulator.requests()
    # Every request is on record: a GET and a POST per attempt, and the look-up of each round held back.
    assert len([c for c in calls if c["method"] == "POST"]) == 6
    assert len([c for c in calls if c["method"] == "GET"]) == 6 + len(held_back)


def test_breaker_opens_after_the_threshold_and_lets_one_probe_through():
    breaker = CircuitBreaker(MemoryState(), {"d": BreakerSettings(failure_threshold=3, open_seconds=0.3)})
    for _ in range(3):
        assert breaker.check("d") is None
        breaker.failed("d")
    assert breaker.check("d") > 0
    time.sleep(0.35)
    assert breaker.check("d") is None            # the probe
    assert breaker.check("d") is not None        # everyone else waits for its verdict
    breaker.succeeded("d")
    assert breaker.check("d") is None and breaker.check("d") is None


def test_a_failed_probe_opens_the_breaker_again():
    breaker = CircuitBreaker(MemoryState(), {"d": BreakerSettings(failure_threshold=1, open_seconds=0.2)})
    breaker.failed("d")
    time.sleep(0.25)
    assert breaker.check("d") is None
    breaker.failed("d")
    assert breaker.check("d") > 0.1


def test_a_probe_that_gives_no_verdict_lets_the_next_caller_probe_at_once():
    breaker = CircuitBreaker(MemoryState(), {"d": BreakerSettings(failure_threshold=1, open_seconds=0.1)})
    breaker.failed("d")
    time.sleep(0.15)
    assert breaker.check("d") is None            # the probe: it turns out to need a dependency first
    assert breaker.check("d") is not None
    breaker.released("d")
    assert breaker.check("d") is None            # not a minute's wait for a verdict that never comes


def test_a_probe_that_needs_a_dependency_first_does_not_stall_the_destination(make_runtime, simulator, tmp_path):
    from test_dependencies import ONLY_APPOINTMENTS, settled

    runtime = make_runtime(engine_config(tmp_path, routes=ONLY_APPOINTMENTS,
                                         breaker={"failure_threshold": 1, "open_seconds": 0.3}))
    patient, _ = fr.write(runtime, fr.patient("P-1"))                 # not routed: Carepatron lacks the client
    runtime.delivery.breaker.failed("carepatron")                     # tripped: the next delivery is the probe
    time.sleep(0.35)
    started = time.monotonic()
    _, [delivery_id] = fr.write(runtime, fr.appointment(patient.id))
    done = wait_until(lambda: settled(runtime, delivery_id), timeout=30, message="the appointment")
    assert done.status == "delivered" and time.monotonic() - started < 10


def test_breaker_state_is_shared_through_redis(redis_url):
    import redis

    prefix = f"test-{uuid.uuid4().hex}:"
    settings = {"d": BreakerSettings(failure_threshold=2, open_seconds=5)}
    one = CircuitBreaker(RedisState(redis.Redis.from_url(redis_url), prefix), settings)
    other = CircuitBreaker(RedisState(redis.Redis.from_url(redis_url), prefix), settings)
    one.failed("d")
    other.failed("d")
    assert one.check("d") > 4 and other.check("d") > 4


def test_paused_destination_is_not_called_and_resumes_by_probing(make_runtime, simulator, tmp_path):
    runtime = make_runtime(engine_config(tmp_path, breaker={"failure_threshold": 2, "open_seconds": 1.5},
                                         max_attempts=20))
    simulator.faults.fail_next(2, status=503)
    _, ids = fr.write(runtime, fr.patient("B-1"))
    [done] = settle(runtime, ids)
    assert done.status == "delivered" and done.attempts == 3
    calls = simulator.requests()
    gap = datetime.fromisoformat(calls[2]["time"]) - datetime.fromisoformat(calls[1]["time"])
    assert gap.total_seconds() >= 1.4                                 # nothing was sent while the breaker was open
