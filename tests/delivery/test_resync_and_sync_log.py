"""Manual resync re-delivers a patient with their appointments, documents and invoices without
duplicating anything; the sync log answers by patient from the CLI and the admin API, with
ids and statuses only; the admin API asks for a bearer token when one is set."""

from __future__ import annotations

import fhir_records as fr
import requests
from operator_tools import admin_api, cli, cli_json
from test_carepatron_kinds import settle

from support.engine_process import wait_until


def patient_with_records(runtime):
    patient, ids = fr.write(runtime, fr.patient("S-1", family="Privateson"))
    for resource in (fr.appointment(patient.id), fr.text_document(patient.id), fr.invoice(patient.id, "INV-1")):
        ids += fr.write(runtime, resource)[1]
    settle(runtime, ids)
    return patient


def all_manual_delivered(runtime):
    from engine.operations.dead_letters import list_deliveries

    rows = list_deliveries(runtime.database, None)
    manual = [r for r in rows if r["origin"] == "manual"]
    return manual if manual and all(r["status"] == "delivered" for r in manual) else None


def test_sync_patient_from_the_cli_redelivers_their_records_once_each(make_runtime, simulator, tmp_path):
    runtime = make_runtime()
    runtime.sweeper.start()
    patient_with_records(runtime)
    done = cli(runtime, tmp_path, "sync", "patient", f"{fr.SYSTEM}|S-1", "--destination", "carepatron")
    assert done.returncode == 0 and "4 deliveries planned" in done.stdout, done.stderr
    manual = wait_until(lambda: all_manual_delivered(runtime), message="the resync")
    assert sorted(r["resource"].split("/")[0] for r in manual) == ["Appointment", "DocumentReference", "Invoice",
                                                                   "Patient"]
    for kind in ("clients", "appointments", "notes", "invoices"):
        assert len(simulator.records(kind)) == 1
    puts = [r for r in simulator.requests() if r["method"] == "PUT"]
    assert len(puts) == 4


def test_sync_patient_from_the_admin_api(make_runtime, simulator):
    runtime = make_runtime()
    patient = patient_with_records(runtime)
    with admin_api(runtime) as api:
        answer = requests.post(f"{api.url}/admin/api/patients/{patient.id}/sync")
        assert answer.status_code == 202 and len(answer.json()["deliveries"]) == 4
        assert requests.post(f"{api.url}/admin/api/patients/unknown/sync").status_code == 404
    wait_until(lambda: all_manual_delivered(runtime), message="the resync")
    assert len(simulator.records("clients")) == 1


def test_sync_log_by_patient_from_the_cli_names_every_attempt_without_patient_data(make_runtime, simulator, tmp_path):
    runtime = make_runtime()
    simulator.faults.fail_next(1, status=503, method="POST", path="/clients")
    patient = patient_with_records(runtime)
    rows = cli_json(runtime, tmp_path, "sync-log", f"{fr.SYSTEM}|S-1")
    assert {r["patient"] for r in rows} == {f"Patient/{patient.id}"}
    assert [r["status"] for r in rows if r["resource"] == f"Patient/{patient.id}"] == ["success", "failed"]
    assert {r["action"] for r in rows} == {"automatic"}
    assert "Privateson" not in str(rows) and "S-1" not in str(rows)


def test_sync_log_by_patient_from_the_admin_api_includes_operator_actions(make_runtime, simulator):
    runtime = make_runtime()
    patient = patient_with_records(runtime)
    with admin_api(runtime) as api:
        requests.post(f"{api.url}/admin/api/patients/{patient.id}/sync")
        wait_until(lambda: all_manual_delivered(runtime), message="the resync")
        entries = requests.get(f"{api.url}/admin/api/patients/{patient.id}/sync-log").json()["entries"]
    actions = {(e["action"], e["status"]) for e in entries}
    assert {("manual", "requested"), ("manual", "success"), ("automatic", "success")} <= actions


def test_admin_api_needs_a_user_when_authentication_is_on(make_runtime):
    runtime = make_runtime(workers=0, CAREBRIDGE_AUTH="on")
    runtime.access.users.add("oncall", "operator", "a long enough password")
    token = runtime.access.users.issue_token("oncall")
    with admin_api(runtime) as api:
        assert requests.get(f"{api.url}/admin/api/deliveries").status_code == 401
        assert requests.get(f"{api.url}/admin/api/deliveries", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert requests.get(f"{api.url}/admin/api/deliveries",
                            headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_resync_sends_only_where_a_route_would_and_through_its_transform(make_runtime, simulator, tmp_path):
    from delivery_config import engine_config

    from engine.operations.resync import resync_patient
    from engine.routing.router import API_CHANNEL, Source

    out = tmp_path / "out"
    routes = [{"name": "women-to-carepatron", "match": {"resource_types": ["Patient"], "where": "gender = 'female'"},
               "destinations": ["carepatron"]},
              {"name": "api-to-files", "match": {"resource_types": ["Patient"], "channels": [API_CHANNEL]},
               "transform": {"tags": [{"code": "via-route"}]}, "destinations": ["files"]}]
    files = {"name": "files", "type": "file", "directory": str(out), "format": "json"}
    runtime = make_runtime(engine_config(tmp_path, routes=routes, extra_destinations=[files]))
    woman, ids = fr.write(runtime, fr.patient("W-1"), source=Source(API_CHANNEL))
    man, more = fr.write(runtime, dict(fr.patient("M-1"), gender="male"), source=Source(API_CHANNEL))
    settle(runtime, ids + more)
    (out / "Patient" / f"{woman.id}.json").unlink()

    planned = {patient.id: resync_patient(runtime.database, runtime.repository, runtime.router, patient.id).delivery_ids
               for patient in (woman, man)}
    runtime.queue.enqueue(planned[woman.id] + planned[man.id])
    resent = settle(runtime, planned[woman.id] + planned[man.id])
    assert sorted((d.resource_id, d.destination) for d in resent) == sorted(
        [(woman.id, "carepatron"), (woman.id, "files"), (man.id, "files")])   # the man was never for Carepatron
    assert all(d.status == "delivered" for d in resent)
    written = (out / "Patient" / f"{woman.id}.json").read_text()
    assert "via-route" in written
