"""How a backlog drains: a passing fault is retried within a second, a 429's Retry-After is
taken at its word without backoff growth, and a delivery waiting on a dependency that finished
meanwhile is not left to the sweeper."""

from __future__ import annotations

import random
import time

import fhir_records as fr
from delivery_config import engine_config
from test_dependencies import ONLY_APPOINTMENTS, settled

from engine.delivery import service as service_module
from engine.delivery.dependencies import Wait
from engine.delivery.retry_policy import QUICK_RETRIES, RetryPolicy
from simulators.carepatron.faults import Faults
from support.engine_process import wait_until


def test_the_first_retries_of_a_passing_fault_come_within_a_second():
    policy, rng = RetryPolicy(), random.Random(2)         # the shipped policy: min backoff 2 s
    for failures in range(1, QUICK_RETRIES + 1):
        assert max(policy.next_delay(failures, rng=rng) for _ in range(200)) <= 1.0
    assert max(policy.next_delay(QUICK_RETRIES + 1, rng=rng) for _ in range(200)) > 1.0


def test_a_retry_after_is_the_wait_however_many_attempts_came_before():
    policy, rng = RetryPolicy(), random.Random(2)
    waits = [policy.next_delay(failures, retry_after=1, rng=rng) for failures in range(1, 12)]
    assert all(1 <= wait <= 1.25 for wait in waits), waits


def test_every_nth_request_answers_the_status_given():
    faults = Faults()
    faults.every_nth(7, 429, headers={"Retry-After": "1"})
    answers = [faults.decide("before", "GET", "/clients", "clients") for _ in range(21)]
    assert [n for n, a in enumerate(answers, 1) if a.status == 429] == [7, 14, 21]
    assert answers[6].headers == {"Retry-After": "1"}


def test_a_dependency_that_finished_meanwhile_does_not_leave_its_dependant_waiting(make_runtime, simulator, tmp_path,
                                                                                  monkeypatch):
    # A long backoff, so a dependant left waiting would sit until the sweeper's safety net minutes later.
    runtime = make_runtime(engine_config(tmp_path, routes=ONLY_APPOINTMENTS, max_backoff=300))
    runtime.sweeper.start()
    first, _ = fr.write(runtime, fr.patient("W-1"))
    _, [appointment] = fr.write(runtime, fr.appointment(first.id))
    assert wait_until(lambda: settled(runtime, appointment), message="first appointment").status == "delivered"
    with runtime.database.read() as session:
        dependency = session.query(service_module.Delivery).filter_by(resource_id=first.id).one()
    real = service_module.ensure_dependency
    calls = []

    def read_before_it_finished(session, dependent, reference, route_of=None):
        # The race: the dependency was read unfinished, and its worker released its waiters
        # before this delivery's wait was committed.
        calls.append(reference)
        return Wait(dependency.id, created=False) if len(calls) == 1 else real(session, dependent, reference, route_of)

    monkeypatch.setattr(service_module, "ensure_dependency", read_before_it_finished)
    second, _ = fr.write(runtime, fr.patient("W-2"))
    started = time.monotonic()
    _, [later] = fr.write(runtime, fr.appointment(second.id))
    done = wait_until(lambda: settled(runtime, later), timeout=20, message="second appointment")
    assert done.status == "delivered" and time.monotonic() - started < 15


def test_429s_before_a_passing_fault_do_not_lengthen_its_retry(make_runtime, simulator, tmp_path):
    from datetime import datetime

    from test_carepatron_kinds import settle

    runtime = make_runtime(engine_config(tmp_path, min_backoff=2, max_backoff=600, max_attempts=20))
    simulator.faults.burst_429(8, retry_after=0)
    simulator.faults.fail_next(1, status=503)
    _, ids = fr.write(runtime, fr.patient("P-429"))
    [done] = settle(runtime, ids)
    assert done.status == "delivered"
    calls = simulator.requests()
    failed = next(n for n, c in enumerate(calls) if c["status"] == 503)
    gap = datetime.fromisoformat(calls[failed + 1]["time"]) - datetime.fromisoformat(calls[failed]["time"])
    assert gap.total_seconds() < 1.5            # the first passing fault: a quick retry, not the 9th backoff
