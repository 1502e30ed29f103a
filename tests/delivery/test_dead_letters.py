"""Dead letters: a permanent failure (422) is parked with its reason, listed, and once the
cause is fixed retried from the CLI or the admin API, and then delivered."""

from __future__ import annotations

import fhir_records as fr
import requests
from operator_tools import admin_api, cli, cli_json
from test_carepatron_kinds import settle

from support.engine_process import wait_until


def parked(runtime, simulator, mrn):
    simulator.faults.reject("clients", detail="The simulator was told to reject clients.")
    _, ids = fr.write(runtime, fr.patient(mrn))
    [done] = settle(runtime, ids)
    assert done.status == "failed" and "422" in done.last_error
    return done.id


def delivered(runtime, delivery_id):
    from engine.operations.dead_letters import get_delivery

    return get_delivery(runtime.database, delivery_id)["status"] == "delivered"


def test_parked_delivery_is_listed_and_retried_from_the_cli_once_fixed(make_runtime, simulator, tmp_path):
    runtime = make_runtime()
    runtime.sweeper.start()            # the embedded mode: the sweeper queues what the CLI made pending
    delivery_id = parked(runtime, simulator, "L-1")
    [listed] = cli_json(runtime, tmp_path, "deliveries", "list")
    assert (listed["id"], listed["status"], listed["resource"].split("/")[0]) == (delivery_id, "failed", "Patient")
    assert "reject clients" in listed["reason"]
    simulator.faults.lift("clients")
    done = cli(runtime, tmp_path, "deliveries", "retry", str(delivery_id))
    assert done.returncode == 0 and f"retrying 1 deliveries: {delivery_id}" in done.stdout, done.stderr
    wait_until(lambda: delivered(runtime, delivery_id), message="delivery after the retry")
    assert len(simulator.records("clients")) == 1
    assert cli_json(runtime, tmp_path, "deliveries", "list") == []


def test_every_parked_delivery_is_retried_from_the_cli_with_all(make_runtime, simulator, tmp_path):
    runtime = make_runtime()
    runtime.sweeper.start()
    first, second = (parked(runtime, simulator, f"L-{n}") for n in (7, 8))
    simulator.faults.lift("clients")
    done = cli(runtime, tmp_path, "deliveries", "retry", "--all", "--destination", "carepatron")
    assert done.returncode == 0 and f"retrying 2 deliveries: {first} {second}" in done.stdout, done.stderr
    wait_until(lambda: delivered(runtime, first) and delivered(runtime, second), message="the bulk retry")
    assert len(simulator.records("clients")) == 2
    assert cli_json(runtime, tmp_path, "deliveries", "list") == []


def test_parked_deliveries_are_retried_one_by_one_and_in_bulk_from_the_admin_api(make_runtime, simulator):
    runtime = make_runtime()
    first, second, third = (parked(runtime, simulator, f"L-{n}") for n in (2, 3, 4))
    with admin_api(runtime) as api:
        listing = requests.get(f"{api.url}/admin/api/deliveries").json()
        assert sorted(d["id"] for d in listing["deliveries"]) == [first, second, third]
        simulator.faults.lift("clients")
        assert requests.post(f"{api.url}/admin/api/deliveries/{first}/retry").status_code == 202
        wait_until(lambda: delivered(runtime, first), message="the single retry")
        answer = requests.post(f"{api.url}/admin/api/deliveries/retry", json={"destination": "carepatron"})
        assert answer.status_code == 202 and answer.json()["retried"] == [second, third]
        wait_until(lambda: delivered(runtime, second) and delivered(runtime, third), message="the bulk retry")
        assert requests.post(f"{api.url}/admin/api/deliveries/{first}/retry").status_code == 409
    assert len(simulator.records("clients")) == 3


def test_retry_is_a_fresh_request_not_a_replay_of_the_rejected_one(make_runtime, simulator):
    runtime = make_runtime()
    delivery_id = parked(runtime, simulator, "L-5")
    simulator.faults.lift("clients")
    from engine.operations.dead_letters import retry

    runtime.queue.enqueue(retry(runtime.database, [delivery_id]))
    wait_until(lambda: delivered(runtime, delivery_id), message="delivery after the retry")
    keys = [r["idempotencyKey"] for r in simulator.requests() if r["method"] == "POST"]
    assert len(set(keys)) == 2


def test_an_attempt_lost_after_an_operator_retry_is_logged_in_the_new_round(make_runtime, simulator):
    from engine.db.models import SyncLogEntry
    from engine.operations.dead_letters import retry

    runtime = make_runtime(workers=0)                      # the test plays the workers
    simulator.faults.reject("clients")
    _, [delivery_id] = fr.write(runtime, fr.patient("L-6"))
    runtime.delivery.run(delivery_id)                      # round 1, attempt 1: rejected and parked
    retry(runtime.database, [delivery_id])
    simulator.faults.lift("clients")
    with runtime.database.write() as session:              # round 2, attempt 1: claimed by a worker that dies
        assert runtime.delivery._claim(session, delivery_id, []) is not None
    wait_until(lambda: runtime.delivery.run(delivery_id) or delivered(runtime, delivery_id), timeout=10,
               message="the lease to run out and the delivery to be taken over")
    with runtime.database.read() as session:
        rows = session.query(SyncLogEntry).filter_by(delivery_id=delivery_id).order_by(SyncLogEntry.id).all()
    retried_at = next(n for n, r in enumerate(rows) if r.status == "requested")
    assert [(r.attempt, r.status) for r in rows[:retried_at]] == [(1, "parked")]
    assert [(r.attempt, r.status) for r in rows[retried_at + 1:]] == [(1, "failed"), (2, "success")]
    assert "worker went away" in rows[retried_at + 1].details
