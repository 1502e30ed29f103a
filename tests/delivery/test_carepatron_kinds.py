"""Every kind of the Carepatron contract: team members, appointments, notes, files (inline
or from a Binary, multipart, over 25 MiB parked) and invoices, through the field maps."""

from __future__ import annotations

import fhir_records as fr

from connectors.outbound.carepatron import MAX_FILE_BYTES
from engine.db.models import Delivery
from support.engine_process import wait_until


def settle(runtime, ids):
    def done():
        with runtime.database.read() as session:
            found = [session.get(Delivery, i) for i in ids]
        return found if all(d.status in ("delivered", "failed", "skipped", "superseded") for d in found) else None

    return wait_until(done, message="deliveries")


def test_practitioner_becomes_a_team_member(make_runtime, simulator):
    runtime = make_runtime()
    outcome, ids = fr.write(runtime, fr.practitioner(family="Nguyen", given="Linh"))
    settle(runtime, ids)
    [member] = simulator.records("team-members")
    assert (member["firstName"], member["lastName"], member["externalId"]) == ("Linh", "Nguyen", outcome.id)


def test_text_document_becomes_a_note_on_the_client(make_runtime, simulator):
    runtime = make_runtime()
    patient, first = fr.write(runtime, fr.patient("K-1"))
    _, ids = fr.write(runtime, fr.text_document(patient.id, "Blood pressure normal."))
    settle(runtime, first + ids)
    [client], [note] = simulator.records("clients"), simulator.records("notes")
    assert (note["clientId"], note["content"], note["title"]) == (client["id"], "Blood pressure normal.", "Progress note")


def test_binary_document_is_uploaded_from_its_binary(make_runtime, simulator):
    runtime = make_runtime()
    patient, first = fr.write(runtime, fr.patient("K-2"))
    binary, _ = fr.write(runtime, fr.binary(b"%PDF-1.7 referral"))
    _, ids = fr.write(runtime, fr.binary_document(patient.id, binary_id=binary.id, title="referral.pdf"))
    settle(runtime, first + ids)
    [stored] = simulator.records("files")
    assert (stored["fileName"], stored["contentType"]) == ("referral.pdf", "application/pdf")
    assert simulator.file_content(stored["id"]) == b"%PDF-1.7 referral"


def test_file_over_25_mib_is_parked_with_the_reason_and_not_sent(make_runtime, simulator):
    runtime = make_runtime()
    patient, first = fr.write(runtime, fr.patient("K-3"))
    _, ids = fr.write(runtime, fr.binary_document(patient.id, content=b"x" * (MAX_FILE_BYTES + 1)))
    [_, parked] = settle(runtime, first + ids)
    assert parked.status == "failed" and "at most 26214400 bytes (25 MiB)" in parked.last_error
    assert not [r for r in simulator.requests() if r["path"].endswith("/files") and r["method"] == "POST"]


def test_invoice_is_sent_with_its_items_to_the_client(make_runtime, simulator):
    runtime = make_runtime()
    patient, first = fr.write(runtime, fr.patient("K-4"))
    _, ids = fr.write(runtime, fr.invoice(patient.id, "INV-7", amount=-40.0))
    settle(runtime, first + ids)
    [client], [sent] = simulator.records("clients"), simulator.records("invoices")
    assert (sent["clientId"], sent["invoiceNumber"], sent["status"], sent["currency"]) == (
        client["id"], "INV-7", "Unpaid", "AUD")
    assert sent["items"] == [{"description": "Consultation", "serviceCode": "CONS", "quantity": 1, "price": -40.0}]


def test_no_carepatron_field_name_appears_in_engine_code():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    names = ("firstName", "lastName", "clientId", "staffUserId", "startDateUtc", "invoiceNumber", "phoneNumber",
             "externalId", "existingId")
    for folder in ("engine", "connectors", "routes", "mappings"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text()
            assert not [n for n in names if n in text], f"{path} names a Carepatron field"


def test_a_field_map_without_the_name_of_its_key_field_is_refused_naming_file_and_path(tmp_path):
    import shutil
    from pathlib import Path

    import pytest

    from foundation.yaml_files import ConfigError
    from mappings.field_maps import FieldMaps

    maps = tmp_path / "carepatron"
    shutil.copytree(Path(__file__).resolve().parents[2] / "mappings" / "carepatron", maps)
    client = maps / "client.yaml"
    client.write_text(client.read_text().replace("  field: externalId\n", ""))
    with pytest.raises(ConfigError) as refused:
        FieldMaps.load(maps)
    assert str(client) in str(refused.value) and "external_id" in str(refused.value) and "'field'" in str(
        refused.value)


def test_a_409_naming_the_existing_record_ends_in_an_update_of_it(make_runtime, simulator):
    import requests

    from engine.db.models import CrossReference, utcnow
    from support.config import TEST_API_KEY

    runtime = make_runtime()
    existing = requests.post(simulator.base_url + "/clients", headers={"cp-api-key": TEST_API_KEY}, json={
        "firstName": "Old", "lastName": "Name", "externalId": f"{fr.SYSTEM}|K-9"}).json()["id"]
    outcome, ids = fr.write(runtime, fr.patient("K-9", family="Newname"), enqueue=False)
    with runtime.database.write() as session:   # a cross-reference to a record Carepatron no longer has
        session.add(CrossReference(destination="carepatron", resource_type="Patient", local_id=outcome.id,
                                   remote_id="cli_gone", updated_at=utcnow()))
    runtime.queue.enqueue(ids)
    [done] = settle(runtime, ids)
    assert (done.status, done.remote_id) == ("delivered", existing)
    calls = [(c["method"], c["path"], c["status"]) for c in simulator.requests() if c["method"] != "GET"]
    assert calls[-3:] == [("PUT", "/v1/clients/cli_gone", 404), ("POST", "/v1/clients", 409),
                          ("PUT", f"/v1/clients/{existing}", 200)]
    [client] = simulator.records("clients")
    assert client["lastName"] == "Newname"
    with runtime.database.read() as session:
        assert session.get(CrossReference, ("carepatron", "Patient", outcome.id)).remote_id == existing
