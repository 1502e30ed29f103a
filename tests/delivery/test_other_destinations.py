"""The other destinations behind the same interface: an HTTP webhook (signed, verified by the
receiver with the recipe in docs/webhooks.md), any FHIR R4 server, and a file drop."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal

import fhir_records as fr
from delivery_config import engine_config
from fhir_standin import create_fhir_standin
from flask import Flask, request
from http_standin import Served
from test_carepatron_kinds import settle

SECRET = "whsec-test-4f2a"


def verify(secret: str, timestamp: str, signature: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """The verification recipe of docs/webhooks.md, word for word."""
    if abs(time.time() - int(timestamp)) > tolerance_seconds:
        return False
    expected = "v1=" + hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                                hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def receiver(received: list, answers: list[int]):
    app = Flask("receiver")

    @app.post("/hook")
    def hook():
        body = request.get_data()
        if not verify(SECRET, request.headers["Carebridge-Timestamp"], request.headers["Carebridge-Signature"], body):
            return "bad signature", 401
        status = answers.pop(0) if answers else 200
        if status == 200:
            received.append(json.loads(body))
        return "", status

    return app


def only(destination: str, types=("Patient",)):
    return [{"name": f"to-{destination}", "match": {"resource_types": list(types)}, "destinations": [destination]}]


def test_webhook_receiver_verifies_every_signature_and_gets_each_version(make_runtime, tmp_path):
    received: list = []
    with Served(receiver(received, answers=[503])) as server:
        runtime = make_runtime(engine_config(tmp_path, extra_destinations=[
            {"name": "hook", "type": "webhook", "url": server.url + "/hook", "secret": SECRET}], routes=only("hook")))
        patient, first = fr.write(runtime, fr.patient("W-1"))
        settle(runtime, first)
        _, second = fr.write(runtime, fr.patient("W-1", family="Later"), resource_id=patient.id)
        [done] = settle(runtime, second)
    assert done.status == "delivered"
    assert [(e["event"], e["id"], e["versionId"]) for e in received] == [("upsert", patient.id, 1),
                                                                       ("upsert", patient.id, 2)]
    assert received[1]["resource"]["name"][0]["family"] == "Later"


def test_webhook_signature_fails_for_a_changed_body():
    from connectors.outbound.webhook import sign

    signature = sign(SECRET, "1700000000", b'{"a":1}')
    assert hmac.compare_digest(signature, "v1=" + hmac.new(SECRET.encode(), b'1700000000.{"a":1}',
                                                          hashlib.sha256).hexdigest())
    assert not verify(SECRET, str(int(time.time())), signature, b'{"a":2}')


def test_fhir_server_gets_dependencies_first_with_references_rewritten_and_updates_in_place(make_runtime, tmp_path):
    app, store = create_fhir_standin()
    with Served(app) as server:
        runtime = make_runtime(engine_config(tmp_path, extra_destinations=[
            {"name": "hie", "type": "fhir", "base_url": server.url}], routes=only("hie", ["Appointment"])))
        patient, _ = fr.write(runtime, fr.patient("F-1"))
        practitioner, _ = fr.write(runtime, fr.practitioner())
        appointment, ids = fr.write(runtime, fr.appointment(patient.id, practitioner.id))
        settle(runtime, ids)
        _, ids = fr.write(runtime, fr.appointment(patient.id, practitioner.id, status="cancelled"),
                          resource_id=appointment.id)
        settle(runtime, ids)
    [(remote_patient, _)] = store["Patient"].items()
    [(remote_practitioner, _)] = store["Practitioner"].items()
    [sent] = store["Appointment"].values()
    assert sent["status"] == "cancelled"
    assert [p["actor"]["reference"] for p in sent["participant"]] == [f"Patient/{remote_patient}",
                                                                      f"Practitioner/{remote_practitioner}"]
    assert {"system": "urn:carebridge:resource-id", "value": appointment.id} in sent["identifier"]


def test_fhir_server_delete_is_propagated(make_runtime, tmp_path):
    app, store = create_fhir_standin()
    with Served(app) as server:
        runtime = make_runtime(engine_config(tmp_path, extra_destinations=[
            {"name": "hie", "type": "fhir", "base_url": server.url}], routes=only("hie")))
        patient, ids = fr.write(runtime, fr.patient("F-2"))
        settle(runtime, ids)
        assert len(store["Patient"]) == 1
        _, ids = fr.delete(runtime, "Patient", patient.id)
        settle(runtime, ids)
    assert store["Patient"] == {}


def test_file_drop_writes_the_latest_version_atomically_and_marks_deletes(make_runtime, tmp_path):
    folder = tmp_path / "drop"
    runtime = make_runtime(engine_config(tmp_path, extra_destinations=[
        {"name": "export", "type": "file", "directory": str(folder), "format": "json"}], routes=only("export")))
    patient, ids = fr.write(runtime, fr.patient("X-1"))
    settle(runtime, ids)
    _, ids = fr.write(runtime, fr.patient("X-1", family="Later"), resource_id=patient.id)
    settle(runtime, ids)
    written = json.loads((folder / "Patient" / f"{patient.id}.json").read_text())
    assert written["name"][0]["family"] == "Later"
    _, ids = fr.delete(runtime, "Patient", patient.id)
    settle(runtime, ids)
    assert sorted(p.name for p in (folder / "Patient").iterdir()) == [f"{patient.id}.deleted.json"]


def test_file_drop_ndjson_writes_one_event_file_per_delivery(make_runtime, tmp_path):
    folder = tmp_path / "drop"
    runtime = make_runtime(engine_config(tmp_path, extra_destinations=[
        {"name": "export", "type": "file", "directory": str(folder), "format": "ndjson"}], routes=only("export")))
    ids = [fr.write(runtime, fr.patient(f"N-{n}"))[1][0] for n in range(3)]
    settle(runtime, ids)
    files = sorted((folder / "events").rglob("*.ndjson"))
    assert [f.stem for f in files] == sorted(str(i) for i in ids)
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert [line["event"] for line in lines] == ["upsert"] * 3
    assert not list(folder.rglob(".carebridge-*"))   # no temporary file left behind


def test_decimals_reach_every_destination_with_the_digits_they_were_written_with(make_runtime, tmp_path):
    # FHIR: 72.50 and 72.5 differ in precision; a destination must not be told 72.5.
    raw_bodies: list[bytes] = []
    app = Flask("raw-receiver")

    @app.post("/hook")
    def hook():
        raw_bodies.append(request.get_data())
        return "", 200

    @app.put("/Patient")
    def conditional_update():
        raw_bodies.append(request.get_data())
        return {"resourceType": "Patient", "id": "remote-1"}, 201

    folder = tmp_path / "drop"
    with Served(app) as server:
        runtime = make_runtime(engine_config(tmp_path, extra_destinations=[
            {"name": "hook", "type": "webhook", "url": server.url + "/hook", "secret": SECRET},
            {"name": "hie", "type": "fhir", "base_url": server.url},
            {"name": "export", "type": "file", "directory": str(folder), "format": "json"}],
            routes=[{"name": "everywhere", "match": {"resource_types": ["Patient"]},
                     "destinations": ["hook", "hie", "export"]}]))
        resource = fr.patient("D-1")
        resource["extension"] = [{"url": "http://example.org/weight-kg", "valueDecimal": Decimal("72.50")}]
        patient, ids = fr.write(runtime, resource)
        assert [d.status for d in settle(runtime, ids)] == ["delivered"] * 3
    written = (folder / "Patient" / f"{patient.id}.json").read_text()
    assert len(raw_bodies) == 2
    for text in [*(body.decode() for body in raw_bodies), written]:
        assert '"valueDecimal": 72.50' in text or '"valueDecimal":72.50' in text, text
