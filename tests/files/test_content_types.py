"""Each kind of file dropped into a running engine's folder becomes the FHIR resources it should."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from drop_engine import DropEngine
from hl7.client import MLLPClient
from sample_documents import pdf, png

from support import services
from support.config import ROOT, TEST_API_KEY
from support.engine_process import engine_env, start_worker, wait_until
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture(scope="module", params=["embedded", "scaled"])
def run_mode(request) -> str:
    """Every file kind on the embedded default, then on PostgreSQL and Redis with a separate worker."""
    return request.param


@pytest.fixture(scope="module")
def module_simulator(run_mode):  # noqa: F811 (a Carepatron of each run mode's own)
    from simulators.carepatron import CarepatronSimulator

    with CarepatronSimulator(api_key=TEST_API_KEY) as sim:
        yield sim


@pytest.fixture(scope="module")
def drop_engine(run_mode, request, tmp_path_factory, module_simulator):
    """One engine for this module's tests; each drops its own files about its own patients."""
    tmp_path = tmp_path_factory.mktemp(f"drop-{run_mode}")
    if run_mode == "embedded":
        running = DropEngine.start(tmp_path, module_simulator)
        yield running
        assert running.engine.stop() == 0, running.engine.log()
        return
    database_url = services.emptied_postgres(request.getfixturevalue("postgres_server_url"))
    scaled = {"CAREBRIDGE_BROKER_URL": services.REDIS_URL, "CAREBRIDGE_QUEUE_NAMESPACE": f"cb-files-{uuid.uuid4().hex[:8]}"}
    services.require("Redis", services.redis_up())
    upgrade = subprocess.run([sys.executable, "-m", "carebridge.cli", "db", "upgrade"], cwd=ROOT, capture_output=True,
                             text=True, env=engine_env(tmp_path, {"CAREBRIDGE_DATABASE_URL": database_url}))
    assert upgrade.returncode == 0, upgrade.stderr
    running = DropEngine.start(tmp_path, module_simulator, database_url=database_url, extra_env=scaled)
    worker = start_worker(tmp_path, running.engine.env)
    yield running
    assert worker.stop() == 0, worker.log()
    assert running.engine.stop() == 0, running.engine.log()


def admit(drop_engine, mrn: str) -> str:
    """A patient the documents can belong to, admitted over MLLP; returns its id."""
    with MLLPClient("127.0.0.1", drop_engine.engine.mllp_port) as client:
        client.send_message(adt("A01", f"CTRL-{mrn}", mrn=mrn))
    [patient] = wait_until(lambda: drop_engine.search("Patient", f"{SYSTEM}|{mrn}"), message="the patient")
    return patient["id"]


def carepatron_client(simulator, mrn: str) -> dict:
    """The Carepatron client the patient with this MRN became (the routes deliver every patient)."""
    external_id = f"{SYSTEM}|{mrn}"
    found = wait_until(lambda: [c for c in simulator.records("clients") if c["externalId"] == external_id],
                       message=f"client {mrn} at Carepatron")
    assert len(found) == 1
    return found[0]


def carepatron_file(simulator, client_id: str, content: bytes) -> dict:
    """The file uploaded to that client at Carepatron, checked byte for byte."""
    [uploaded] = wait_until(lambda: [f for f in simulator.records("files") if f["clientId"] == client_id],
                            timeout=20, message="the file at Carepatron")
    assert simulator.file_content(uploaded["id"]) == content
    return uploaded


def document_for(drop_engine, content: bytes) -> dict:
    [reference] = drop_engine.search("DocumentReference",
                                     f"urn:carebridge:document-sha256|{hashlib.sha256(content).hexdigest()}")
    return reference


def test_pdf_with_sidecar_becomes_a_document_reference_and_binary(drop_engine, module_simulator):
    patient_id = admit(drop_engine, "F-PDF-1")
    content = pdf("Fictional referral")
    drop_engine.drop("referral.pdf", content, sidecar={"patientIdentifier": f"{SYSTEM}|F-PDF-1",
                                                       "type": "57133-1", "title": "Referral", "date": "2024-05-01"})
    assert drop_engine.wait_settled("referral.pdf") == "done"
    assert (drop_engine.inbox / "done" / "referral.pdf.json").exists()
    reference = document_for(drop_engine, content)
    attachment = reference["content"][0]["attachment"]
    assert reference["subject"] == {"reference": f"Patient/{patient_id}"}
    assert reference["type"]["coding"][0] == {"system": "http://loinc.org", "code": "57133-1"}
    assert attachment["contentType"] == "application/pdf" and attachment["size"] == len(content)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(content).digest()).decode()
    assert attachment["title"] == "Referral" and attachment["creation"] == "2024-05-01"
    binary = drop_engine.read(attachment["url"])
    assert binary["contentType"] == "application/pdf" and base64.b64decode(binary["data"]) == content
    carepatron_file(module_simulator, carepatron_client(module_simulator, "F-PDF-1")["id"], content)


def test_png_named_by_the_channel_pattern_finds_its_patient(drop_engine, module_simulator):
    patient_id = admit(drop_engine, "F-PNG-2")
    content = png()
    drop_engine.drop("F-PNG-2_wound photo_20240502.png", content)
    assert drop_engine.wait_settled("F-PNG-2_wound photo_20240502.png") == "done"
    reference = document_for(drop_engine, content)
    assert reference["subject"] == {"reference": f"Patient/{patient_id}"}
    assert reference["type"] == {"text": "wound photo"}
    assert reference["content"][0]["attachment"]["contentType"] == "image/png"
    assert reference["content"][0]["attachment"]["creation"] == "2024-05-02"
    carepatron_file(module_simulator, carepatron_client(module_simulator, "F-PNG-2")["id"], content)


def test_ccda_makes_its_patient_and_a_document_reference(drop_engine, module_simulator):
    content = (SAMPLES / "ccda_discharge_summary.xml").read_bytes()
    drop_engine.drop("discharge.xml", content)
    assert drop_engine.wait_settled("discharge.xml") == "done"
    [patient] = drop_engine.search("Patient", f"{SYSTEM}|CDA-5001")
    assert patient["name"][0] == {"family": "Fictional", "given": ["Ada"]} and patient["birthDate"] == "1980-02-14"
    [reference] = drop_engine.search("DocumentReference", "urn:oid:1.2.36.1.2001.1005.88|DS-2024-0042")
    assert reference["subject"] == {"reference": f"Patient/{patient['id']}"}
    assert reference["type"]["coding"][0]["code"] == "18842-5"
    assert reference["date"] == "2024-05-01T10:30:00+10:00"
    assert reference["author"] == [{"display": "Dr Grace Example"}]
    binary = drop_engine.read(reference["content"][0]["attachment"]["url"])
    assert base64.b64decode(binary["data"]) == content
    client = carepatron_client(module_simulator, "CDA-5001")
    assert (client["firstName"], client["lastName"]) == ("Ada", "Fictional")
    carepatron_file(module_simulator, client["id"], content)


def test_hl7_batch_sends_each_message_through_the_pipeline(drop_engine, module_simulator):
    batch = b"FHS|^~\\&|HIS|HOSP\rBHS|^~\\&|HIS|HOSP\r" + adt("A01", "B-1", mrn="F-HL7-1") \
        + adt("A01", "B-2", mrn="F-HL7-2", family="Second") + b"BTS|2\rFTS|1\r"
    drop_engine.drop("admissions.hl7", batch)
    assert drop_engine.wait_settled("admissions.hl7") == "done"
    assert drop_engine.search("Patient", f"{SYSTEM}|F-HL7-1")
    [second] = drop_engine.search("Patient", f"{SYSTEM}|F-HL7-2")
    assert second["name"][0]["family"] == "Second"
    assert carepatron_client(module_simulator, "F-HL7-2")["lastName"] == "Second"
    carepatron_client(module_simulator, "F-HL7-1")


def test_fhir_transaction_bundle_is_saved_with_references_resolved(drop_engine, module_simulator):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:7d9c1a52-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": "F-FHIR-1"}],
                      "name": [{"family": "Bundled", "given": ["Bea"]}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final",
                      "identifier": [{"system": "urn:example:obs", "value": "F-OBS-1"}],
                      "code": {"text": "Body weight"},
                      "subject": {"reference": "urn:uuid:7d9c1a52-0000-4000-8000-000000000001"}},
         "request": {"method": "POST", "url": "Observation"}},
    ]}
    drop_engine.drop("bundle.json", json.dumps(bundle).encode())
    assert drop_engine.wait_settled("bundle.json") == "done"
    [patient] = drop_engine.search("Patient", f"{SYSTEM}|F-FHIR-1")
    [observation] = drop_engine.search("Observation", "urn:example:obs|F-OBS-1")
    assert observation["subject"] == {"reference": f"Patient/{patient['id']}"}
    assert carepatron_client(module_simulator, "F-FHIR-1")["lastName"] == "Bundled"


def test_csv_of_patients_makes_one_patient_per_row(drop_engine, module_simulator):
    rows = ("mrn,first_name,last_name,date_of_birth,sex,email\n"
            "F-CSV-1,Cal,Commaseparated,1990-03-04,M,cal@example.org\n"
            "F-CSV-2,Dee,Delimited,1985-12-31,F,\n")
    drop_engine.drop("patients.csv", rows.encode())
    assert drop_engine.wait_settled("patients.csv") == "done"
    [first] = drop_engine.search("Patient", f"{SYSTEM}|F-CSV-1")
    [second] = drop_engine.search("Patient", f"{SYSTEM}|F-CSV-2")
    assert first["birthDate"] == "1990-03-04" and first["gender"] == "male"
    assert second["name"][0] == {"family": "Delimited", "given": ["Dee"]}
    assert carepatron_client(module_simulator, "F-CSV-1")["email"] == "cal@example.org"
    assert carepatron_client(module_simulator, "F-CSV-2")["lastName"] == "Delimited"


def test_fhir_transaction_file_honours_if_none_exist_conditional_references_and_conditional_put(drop_engine):
    patient_id = admit(drop_engine, "F-FHIR-COND")
    criteria = f"identifier={SYSTEM}|F-FHIR-COND"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": "F-FHIR-COND"}]},
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": criteria}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "Height"},
                      "identifier": [{"system": "urn:example:obs", "value": "F-OBS-COND"}],
                      "subject": {"reference": f"Patient?{criteria}"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Organization", "name": "Fictional Clinic",
                      "identifier": [{"system": "urn:example:org", "value": "F-ORG-COND"}]},
         "request": {"method": "PUT", "url": "Organization?identifier=urn:example:org|F-ORG-COND"}},
    ]}
    drop_engine.drop("conditional.json", json.dumps(bundle).encode())
    assert drop_engine.wait_settled("conditional.json") == "done"
    assert [p["id"] for p in drop_engine.search("Patient", f"{SYSTEM}|F-FHIR-COND")] == [patient_id]
    [observation] = drop_engine.search("Observation", "urn:example:obs|F-OBS-COND")
    assert observation["subject"] == {"reference": f"Patient/{patient_id}"}
    renamed = {**bundle, "entry": [{**bundle["entry"][2], "resource": {**bundle["entry"][2]["resource"],
                                                                        "name": "Renamed Clinic"}}]}
    drop_engine.drop("conditional-again.json", json.dumps(renamed).encode())
    assert drop_engine.wait_settled("conditional-again.json") == "done"
    [organization] = drop_engine.search("Organization", "urn:example:org|F-ORG-COND")
    assert organization["name"] == "Renamed Clinic"


def test_fhir_batch_file_keeps_the_entries_that_succeed_and_explains_the_one_that_failed(drop_engine):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": "F-BATCH-1"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "birthDate": "1980-02-31x"},
         "request": {"method": "POST", "url": "Patient"}},
    ]}
    drop_engine.drop("batch.json", json.dumps(bundle).encode())
    assert drop_engine.wait_settled("batch.json") == "error"
    assert drop_engine.search("Patient", f"{SYSTEM}|F-BATCH-1")
    reason = drop_engine.reason("batch.json")
    assert "1 of 2 Bundle entries failed: entry 1: 422 invalid-resource" in reason and "1980-02-31x" not in reason


def test_ndjson_file_creates_or_updates_each_line_as_its_own_request(drop_engine):
    lines = [{"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": "F-NDJSON-1"}]},
             {"resourceType": "Organization", "id": "f-ndjson-org", "name": "Fictional Lab"}]
    drop_engine.drop("export.ndjson", "\n".join(json.dumps(line) for line in lines).encode() + b"\n")
    assert drop_engine.wait_settled("export.ndjson") == "done"
    assert drop_engine.search("Patient", f"{SYSTEM}|F-NDJSON-1")
    assert drop_engine.read("Organization/f-ndjson-org")["name"] == "Fictional Lab"


def test_single_resource_file_with_an_id_is_put_under_that_id(drop_engine):
    resource = {"resourceType": "Patient", "id": "f-single-1", "identifier": [{"system": SYSTEM, "value": "F-ONE-1"}],
                "name": [{"family": "Single"}]}
    drop_engine.drop("one.json", json.dumps(resource).encode())
    assert drop_engine.wait_settled("one.json") == "done"
    assert drop_engine.read("Patient/f-single-1")["name"] == [{"family": "Single"}]


def test_concatenated_hl7_messages_without_a_batch_header_each_go_through(drop_engine):
    drop_engine.drop("concatenated.hl7", adt("A01", "C-1", mrn="F-CAT-1") + adt("A01", "C-2", mrn="F-CAT-2"))
    assert drop_engine.wait_settled("concatenated.hl7") == "done"
    assert drop_engine.search("Patient", f"{SYSTEM}|F-CAT-1") and drop_engine.search("Patient", f"{SYSTEM}|F-CAT-2")


def test_hl7_file_naming_no_charset_is_read_with_the_channel_fallback(drop_engine):
    # The bundled inbox reads undeclared text as cp1252, where 0x92 is a right single quote.
    drop_engine.drop("cp1252.hl7", adt("A01", "ENC-1", mrn="F-ENC-HL7", family="O\u2019Brien")
                     .decode().encode("cp1252"))
    assert drop_engine.wait_settled("cp1252.hl7") == "done"
    [patient] = drop_engine.search("Patient", f"{SYSTEM}|F-ENC-HL7")
    assert patient["name"][0]["family"] == "O\u2019Brien"


@pytest.mark.parametrize("encoding", ["cp1252", "utf-16"])
def test_csv_in_a_legacy_or_wide_encoding_keeps_its_accents(drop_engine, encoding):
    mrn = f"F-ENC-{encoding.upper()}"
    drop_engine.drop(f"{encoding}.csv", f"mrn,first_name,last_name\n{mrn},Zo\u00eb,O\u2019Neill\n".encode(encoding))
    assert drop_engine.wait_settled(f"{encoding}.csv") == "done"
    [patient] = drop_engine.search("Patient", f"{SYSTEM}|{mrn}")
    assert patient["name"][0] == {"family": "O\u2019Neill", "given": ["Zo\u00eb"]}


def test_rtf_letter_with_sidecar_is_filed_as_an_rtf_document(drop_engine):
    patient_id = admit(drop_engine, "F-RTF-1")
    content = b"{\\rtf1\\ansi {\\fonttbl\\f0 Arial;}\\f0 Fictional letter\\par}"
    drop_engine.drop("letter.rtf", content, sidecar={"patientIdentifier": f"{SYSTEM}|F-RTF-1"})
    assert drop_engine.wait_settled("letter.rtf") == "done"
    reference = document_for(drop_engine, content)
    assert reference["subject"] == {"reference": f"Patient/{patient_id}"}
    assert reference["content"][0]["attachment"]["contentType"] == "application/rtf"
