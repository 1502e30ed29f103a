"""Dependencies first: an appointment whose client or team member Carepatron does not hold
yet has them delivered first, waits for them, and then points at the right ids."""

from __future__ import annotations

import fhir_records as fr
from delivery_config import engine_config
from sqlalchemy import select

from engine.db.models import Delivery, SyncLogEntry
from support.engine_process import wait_until

ONLY_APPOINTMENTS = [{"name": "appointments", "match": {"resource_types": ["Appointment"]},
                      "destinations": ["carepatron"]}]


def settled(runtime, delivery_id):
    with runtime.database.read() as session:
        found = session.get(Delivery, delivery_id)
        return found if found.status in ("delivered", "failed", "skipped", "superseded") else None


def test_appointment_delivers_its_missing_client_and_team_member_first(make_runtime, simulator, tmp_path):
    runtime = make_runtime(engine_config(tmp_path, routes=ONLY_APPOINTMENTS))
    patient, _ = fr.write(runtime, fr.patient("D-1"))           # not routed: Carepatron never heard of them
    practitioner, _ = fr.write(runtime, fr.practitioner())
    _, [delivery_id] = fr.write(runtime, fr.appointment(patient.id, practitioner.id))
    done = wait_until(lambda: settled(runtime, delivery_id), message="appointment delivery")
    assert done.status == "delivered"
    [client], [member], [appointment] = (simulator.records(k) for k in ("clients", "team-members", "appointments"))
    assert (appointment["clientId"], appointment["staffUserId"]) == (client["id"], member["id"])
    posts = [r["path"] for r in simulator.requests() if r["method"] == "POST"]
    assert posts.index("/v1/clients") < posts.index("/v1/appointments")
    assert posts.index("/v1/team-members") < posts.index("/v1/appointments")
    with runtime.database.read() as session:
        statuses = list(session.scalars(select(SyncLogEntry.status).where(SyncLogEntry.delivery_id == delivery_id)
                                        .order_by(SyncLogEntry.id)))
    assert statuses == ["waiting", "waiting", "success"]


def test_dependency_that_is_parked_parks_its_dependent_with_the_reason(make_runtime, simulator, tmp_path):
    runtime = make_runtime(engine_config(tmp_path, routes=ONLY_APPOINTMENTS))
    simulator.faults.reject("clients")
    patient, _ = fr.write(runtime, fr.patient("D-2"))
    _, [delivery_id] = fr.write(runtime, fr.appointment(patient.id))
    done = wait_until(lambda: settled(runtime, delivery_id), message="appointment parked")
    assert done.status == "failed" and f"Patient/{patient.id}" in done.last_error and "parked" in done.last_error
    assert simulator.records("appointments") == []


def test_an_update_waits_for_its_create_and_the_older_version_is_not_sent_after_it(make_runtime, simulator):
    runtime = make_runtime(workers=0)
    patient, [first] = fr.write(runtime, fr.patient("D-3"), enqueue=False)
    _, [second] = fr.write(runtime, fr.patient("D-3", family="Later"), resource_id=patient.id, enqueue=False)
    runtime.delivery.run(second)
    assert settled(runtime, second) is None          # the create is not finished: the update waits
    runtime.delivery.run(first)
    assert settled(runtime, first).status == "superseded"
    runtime.delivery.run(second)
    [client] = simulator.records("clients")
    assert client["lastName"] == "Later"


def test_different_patients_are_delivered_in_parallel(make_runtime, simulator):
    runtime = make_runtime(workers=4)
    # Long enough that a loaded machine still gets three workers into their POSTs at once.
    simulator.faults.latency(1500, method="POST", path="/clients")
    ids = [fr.write(runtime, fr.patient(f"P-{n}"))[1][0] for n in range(4)]
    simulator.wait_for_in_flight(3, timeout=10)      # three or more POSTs at once: no global ordering
    for delivery_id in ids:
        wait_until(lambda: settled(runtime, delivery_id), message="delivery")
    assert len(simulator.records("clients")) == 4


def test_one_patients_deliveries_happen_in_order(make_runtime, simulator):
    runtime = make_runtime(workers=4)
    patient, _ = fr.write(runtime, fr.patient("O-1"))
    ids = [fr.write(runtime, fr.text_document(patient.id, f"note {n}"))[1][0] for n in range(5)]
    wait_until(lambda: all(settled(runtime, i) for i in ids), message="notes")
    with runtime.database.read() as session:
        first_success = {row.delivery_id: row.id for row in session.scalars(
            select(SyncLogEntry).where(SyncLogEntry.status == "success"))}
    assert [first_success[i] for i in ids] == sorted(first_success[i] for i in ids)
    assert [n["content"] for n in simulator.records("notes")] == [f"note {n}" for n in range(5)]


def test_a_dependency_delivered_first_goes_through_the_route_that_would_carry_it(make_runtime, simulator, tmp_path):
    import yaml

    config = engine_config(tmp_path, routes=ONLY_APPOINTMENTS)
    runtime = make_runtime(config)
    reachable = dict(fr.patient("D-9"), telecom=[{"system": "email", "value": "d9@example.org"}])
    patient, planned = fr.write(runtime, reachable)                 # not routed when written
    assert planned == []
    data = yaml.safe_load(config.read_text())
    data["routes"].append({"name": "patients-without-contacts", "match": {"resource_types": ["Patient"]},
                           "transform": {"drop": ["telecom"]}, "destinations": ["carepatron"]})
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    assert runtime.router.reload_if_changed(force=True)
    _, [delivery_id] = fr.write(runtime, fr.appointment(patient.id))
    assert wait_until(lambda: settled(runtime, delivery_id), message="appointment delivery").status == "delivered"
    with runtime.database.read() as session:
        [dependency] = session.scalars(select(Delivery).where(Delivery.resource_type == "Patient")).all()
    assert dependency.route == "patients-without-contacts"
    [client] = simulator.records("clients")
    assert "email" not in client or not client["email"]
