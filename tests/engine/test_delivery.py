"""Deliveries to Carepatron: retried when passing failures occur, parked when permanent,
recorded attempt by attempt, never duplicated, and resumed when a worker goes away."""

import threading
from datetime import datetime

import pytest
import requests
import yaml
from sqlalchemy import select

from engine.db.models import CrossReference, Delivery, SyncLogEntry, utcnow
from engine.routing.router import Source
from support.config import TEST_API_KEY, write_test_config
from support.engine_process import wait_until

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def patient(mrn="100001", family="Testperson", given="Ada"):
    return {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": mrn}],
            "name": [{"use": "official", "family": family, "given": [given]}], "gender": "female",
            "birthDate": "1980-02-14"}


def write(runtime, resource, resource_id=None, enqueue=True):
    with runtime.database.write() as session:
        outcome = runtime.repository.save(session, resource, resource_id=resource_id)
        deliveries = runtime.router.plan(session, [outcome], Source("test", "ADT^A01"))
        ids = [d.id for d in deliveries]
    if enqueue:
        runtime.queue.enqueue(ids)
    return outcome, ids


def delivery(runtime, delivery_id):
    with runtime.database.read() as session:
        return session.get(Delivery, delivery_id)


def sync_log(runtime, delivery_id):
    with runtime.database.read() as session:
        return list(session.scalars(select(SyncLogEntry).where(SyncLogEntry.delivery_id == delivery_id)
                                    .order_by(SyncLogEntry.id)))


def finished(runtime, delivery_id):
    found = delivery(runtime, delivery_id)
    return found if found.status in ("delivered", "failed", "superseded") else None


def test_patient_is_delivered_as_one_client_with_its_id_remembered(make_runtime, simulator):
    runtime = make_runtime()
    outcome, [delivery_id] = write(runtime, patient())
    done = wait_until(lambda: finished(runtime, delivery_id), message="delivery")
    assert done.status == "delivered"
    [client] = simulator.records("clients")
    assert client["externalId"] == f"{SYSTEM}|100001"
    assert (client["firstName"], client["lastName"], client["dateOfBirth"]) == ("Ada", "Testperson", "1980-02-14")
    with runtime.database.read() as session:
        assert session.get(CrossReference, ("carepatron", "Patient", outcome.id)).remote_id == client["id"]


def test_three_503s_then_success_is_delivered_with_every_attempt_logged(make_runtime, simulator):
    runtime = make_runtime()
    simulator.faults.fail_next(3, status=503, method="POST", path="/clients")
    _, [delivery_id] = write(runtime, patient())
    done = wait_until(lambda: finished(runtime, delivery_id), message="delivery")
    assert done.status == "delivered" and done.attempts == 4
    assert [row.status for row in sync_log(runtime, delivery_id)] == ["failed", "failed", "failed", "success"]
    assert all("503" in row.details for row in sync_log(runtime, delivery_id)[:3])
    assert len(simulator.records("clients")) == 1


def test_422_is_parked_with_the_problem_detail_and_not_retried(make_runtime, simulator):
    runtime = make_runtime()
    simulator.faults.reject("clients", status=422, detail="The simulator was told to reject clients.")
    _, [delivery_id] = write(runtime, patient())
    done = wait_until(lambda: finished(runtime, delivery_id), message="delivery parked")
    assert done.status == "failed" and done.attempts == 1
    assert "422" in done.last_error and "reject clients" in done.last_error
    [row] = sync_log(runtime, delivery_id)
    assert row.status == "parked" and row.patient_ref.startswith("Patient/")
    posts = [r for r in simulator.requests() if r["method"] == "POST"]
    assert len(posts) == 1


def test_429_waits_at_least_retry_after(make_runtime, simulator):
    runtime = make_runtime()
    simulator.faults.burst_429(1, retry_after=1, method="POST", path="/clients")
    _, [delivery_id] = write(runtime, patient())
    wait_until(lambda: finished(runtime, delivery_id), message="delivery")
    posts = [r for r in simulator.requests() if r["method"] == "POST"]
    assert [p["status"] for p in posts] == [429, 201]
    waited = datetime.fromisoformat(posts[1]["time"]) - datetime.fromisoformat(posts[0]["time"])
    assert waited.total_seconds() >= 0.95


def test_update_after_create_changes_the_same_client(make_runtime, simulator):
    runtime = make_runtime()
    created, [first] = write(runtime, patient())
    wait_until(lambda: finished(runtime, first), message="create")
    _, [second] = write(runtime, patient(family="Married"), resource_id=created.id)
    wait_until(lambda: finished(runtime, second), message="update")
    [client] = simulator.records("clients")
    assert client["lastName"] == "Married"


def test_older_version_never_overwrites_newer(make_runtime, simulator):
    runtime = make_runtime(workers=0)
    created, [first] = write(runtime, patient(), enqueue=False)
    _, [second] = write(runtime, patient(family="Newer"), resource_id=created.id, enqueue=False)
    runtime.delivery.run(second)  # blocked: the older delivery is not finished
    assert delivery(runtime, second).status == "pending"
    runtime.delivery.run(first)   # superseded by the newer version, which it announces
    assert delivery(runtime, first).status == "superseded"
    runtime.delivery.run(second)
    assert delivery(runtime, second).status == "delivered"
    [client] = simulator.records("clients")
    assert client["lastName"] == "Newer"


def test_delivery_held_by_a_vanished_worker_is_resumed_by_the_sweeper(make_runtime, simulator):
    runtime = make_runtime(workers=0)
    _, [delivery_id] = write(runtime, patient(), enqueue=False)
    claim_holder = {}
    with runtime.database.write() as session:  # a worker claims it, then dies before recording anything
        claim_holder["claim"] = runtime.delivery._claim(session, delivery_id, [])
    assert delivery(runtime, delivery_id).status == "in_flight"
    wait_until(lambda: delivery(runtime, delivery_id).lease_expires_at < utcnow(),
               timeout=5, message="lease to expire")
    assert delivery_id in runtime.sweeper.sweep_once()
    runtime.delivery.run(delivery_id)
    assert delivery(runtime, delivery_id).status == "delivered"
    assert len(simulator.records("clients")) == 1


def test_a_timed_out_request_is_retried_and_delivered_once(make_runtime, simulator, tmp_path):
    config = write_test_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    [carepatron] = [d for d in data["destinations"] if d["name"] == "carepatron"]
    carepatron["timeout_seconds"] = 0.5
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    # Carepatron creates the client, then the answer never comes: the engine must not create it twice.
    simulator.faults.timeout(3, phase="after", count=1, method="POST", path="/clients")
    runtime = make_runtime(config)
    _, [delivery_id] = write(runtime, patient())
    done = wait_until(lambda: finished(runtime, delivery_id), message="delivery")
    assert done.status == "delivered" and done.attempts == 2
    first, second = sync_log(runtime, delivery_id)
    assert first.status == "failed" and "did not answer in time" in first.details
    assert second.status == "success"
    assert len(simulator.records("clients")) == 1


def test_external_id_lookup_alone_finds_a_client_created_elsewhere(make_runtime, simulator):
    runtime = make_runtime()
    seeded = requests.post(f"{simulator.base_url}/clients", headers={"cp-api-key": TEST_API_KEY},
                           json={"firstName": "Ada", "lastName": "Before", "externalId": f"{SYSTEM}|100001"},
                           timeout=5)
    assert seeded.status_code == 201
    outcome, [delivery_id] = write(runtime, patient(family="After"))
    done = wait_until(lambda: finished(runtime, delivery_id), message="delivery")
    assert done.status == "delivered"
    [client] = simulator.records("clients")
    assert client["id"] == seeded.json()["id"] and client["lastName"] == "After"
    engine_requests = simulator.requests()[1:]
    assert [r["method"] for r in engine_requests] == ["GET", "PUT"]  # looked up, updated; never a POST
    with runtime.database.read() as session:
        assert session.get(CrossReference, ("carepatron", "Patient", outcome.id)).remote_id == client["id"]


# The race needs concurrent writers and row locks: PostgreSQL's (SQLite's writers queue at BEGIN).
@pytest.mark.parametrize("backend", ["scaled"], indirect=True)
def test_two_workers_taking_over_a_lost_delivery_log_its_lost_attempt_once(make_runtime, simulator):
    runtime = make_runtime(workers=0)
    _, [delivery_id] = write(runtime, patient(), enqueue=False)
    with runtime.database.write() as session:  # a worker claims it, then dies before recording anything
        runtime.delivery._claim(session, delivery_id, [])
    wait_until(lambda: delivery(runtime, delivery_id).lease_expires_at < utcnow(), timeout=5,
               message="lease to expire")
    first_claimed, let_first_commit, second_done = threading.Event(), threading.Event(), threading.Event()
    claims = {}

    def first():
        with runtime.database.write() as session:
            claims["first"] = runtime.delivery._claim(session, delivery_id, [])
            first_claimed.set()
            let_first_commit.wait(10)

    def second():
        first_claimed.wait(10)
        with runtime.database.write() as session:  # read before the first commits; its claim waits on the row
            claims["second"] = runtime.delivery._claim(session, delivery_id, [])
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert not second_done.wait(1)      # the second worker is held on the delivery's row lock
    let_first_commit.set()
    for thread in threads:
        thread.join(10)
    assert claims["first"] is not None and claims["second"] is None
    lost = [row for row in sync_log(runtime, delivery_id) if row.attempt == 1]
    assert len(lost) == 1 and "went away" in lost[0].details
