"""Batch and transaction Bundles: a transaction is atomic and resolves urn:uuid and conditional references."""

from __future__ import annotations

import base64
import json

from api.fhir_data import SYSTEM, create, patient, search_ids

PATIENT_URN = "urn:uuid:8c0fcd0b-7c36-4a3e-8d4d-3f1f5c0a0001"


def _transaction(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def _observation(subject: str) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
            "subject": {"reference": subject}}


def test_transaction_resolves_urn_uuid_references_to_the_assigned_ids(client):
    response = client.post("/fhir", json=_transaction(
        {"fullUrl": PATIENT_URN, "resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": _observation(PATIENT_URN), "request": {"method": "POST", "url": "Observation"}}))
    assert response.status_code == 200
    bundle = response.get_json()
    assert bundle["type"] == "transaction-response"
    assert [e["response"]["status"] for e in bundle["entry"]] == ["201 Created", "201 Created"]
    patient_id = bundle["entry"][0]["resource"]["id"]
    assert bundle["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{patient_id}"
    assert bundle["entry"][0]["response"]["location"].startswith(f"Patient/{patient_id}/_history/1")


def test_transaction_is_atomic_when_one_entry_is_invalid(client):
    response = client.post("/fhir", json=_transaction(
        {"fullUrl": PATIENT_URN, "resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final"},  # code is required
         "request": {"method": "POST", "url": "Observation"}}))
    assert response.status_code == 422
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert search_ids(client, "Patient") == set()


def test_transaction_conditional_create_reuses_the_existing_resource(client):
    existing = create(client, patient())
    bundle = client.post("/fhir", json=_transaction(
        {"fullUrl": PATIENT_URN, "resource": patient(),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={SYSTEM}|100001"}},
        {"resource": _observation(PATIENT_URN), "request": {"method": "POST", "url": "Observation"}})).get_json()
    assert bundle["entry"][0]["response"]["status"] == "200 OK"
    assert bundle["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"
    assert search_ids(client, "Patient") == {existing["id"]}


def test_transaction_resolves_conditional_references(client):
    existing = create(client, patient())
    bundle = client.post("/fhir", json=_transaction(
        {"resource": _observation(f"Patient?identifier={SYSTEM}|100001"),
         "request": {"method": "POST", "url": "Observation"}})).get_json()
    assert bundle["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"


def test_transaction_conditional_update_and_delete(client):
    kept = create(client, patient())
    gone = create(client, patient(mrn="200002"))
    bundle = client.post("/fhir", json=_transaction(
        {"resource": patient(family="Changed"),
         "request": {"method": "PUT", "url": f"Patient?identifier={SYSTEM}|100001"}},
        {"request": {"method": "DELETE", "url": f"Patient?identifier={SYSTEM}|200002"}})).get_json()
    assert [e["response"]["status"] for e in bundle["entry"]] == ["200 OK", "204 No Content"]
    assert client.get(f"/fhir/Patient/{kept['id']}").get_json()["name"][0]["family"] == "Changed"
    assert client.get(f"/fhir/Patient/{gone['id']}").status_code == 410


def test_batch_entries_succeed_or_fail_on_their_own(client):
    bundle = client.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/unknown"}}]}).get_json()
    assert bundle["type"] == "batch-response"
    assert bundle["entry"][0]["response"]["status"] == "201 Created"
    assert bundle["entry"][1]["response"]["status"] == "404 Not Found"
    assert bundle["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"


def test_transaction_reads_see_the_transactions_writes(client):
    bundle = client.post("/fhir", json=_transaction(
        {"request": {"method": "GET", "url": "Patient?family=testperson"}},
        {"resource": patient(), "request": {"method": "POST", "url": "Patient"}})).get_json()
    assert bundle["entry"][0]["resource"]["total"] == 1


def test_a_bundle_of_another_type_is_400(client):
    response = client.post("/fhir", json={"resourceType": "Bundle", "type": "collection"})
    assert response.status_code == 400


def test_transaction_patch_entry_carries_a_json_patch_in_a_binary(client):
    stored = create(client, patient())
    patch = base64.b64encode(json.dumps([{"op": "replace", "path": "/name/0/family", "value": "Viabundle"}]).encode())
    bundle = client.post("/fhir", json=_transaction(
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch.decode()},
         "request": {"method": "PATCH", "url": f"Patient/{stored['id']}"}})).get_json()
    assert bundle["entry"][0]["response"]["status"] == "200 OK"
    assert client.get(f"/fhir/Patient/{stored['id']}").get_json()["name"][0]["family"] == "Viabundle"


def test_transaction_with_a_stale_if_match_changes_nothing(client):
    stored = create(client, patient())
    response = client.post("/fhir", json=_transaction(
        {"resource": patient(mrn="2"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {**patient(family="Late"), "id": stored["id"]},
         "request": {"method": "PUT", "url": f"Patient/{stored['id']}", "ifMatch": 'W/"5"'}}))
    assert response.status_code == 412
    assert search_ids(client, "Patient") == {stored["id"]}


def test_transaction_whose_if_none_exist_matches_several_is_412_and_writes_nothing(client):
    create(client, patient())
    create(client, patient(given="Twin"))
    response = client.post("/fhir", json=_transaction(
        {"resource": {"resourceType": "Organization", "name": "Before"},
         "request": {"method": "POST", "url": "Organization"}},
        {"fullUrl": PATIENT_URN, "resource": patient(),
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={SYSTEM}|100001"}}))
    assert response.status_code == 412
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert search_ids(client, "Organization") == set()
    assert len(search_ids(client, "Patient")) == 2


def test_transaction_whose_conditional_reference_fails_writes_nothing(client):
    response = client.post("/fhir", json=_transaction(
        {"fullUrl": PATIENT_URN, "resource": patient(mrn="300003"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": _observation(f"Patient?identifier={SYSTEM}|no-such-mrn"),
         "request": {"method": "POST", "url": "Observation"}}))
    assert response.status_code == 412
    assert response.get_json()["issue"][0]["details"]["coding"][0]["code"] == "conditional-reference"
    assert search_ids(client, "Patient") == set()
    assert search_ids(client, "Observation") == set()


def test_transaction_resolves_urn_uuid_full_urls_of_put_entries_to_their_ids(client):
    bundle = client.post("/fhir", json=_transaction(
        {"resource": _observation(PATIENT_URN), "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": PATIENT_URN, "resource": {**patient(), "id": "ehr-7"},
         "request": {"method": "PUT", "url": "Patient/ehr-7"}})).get_json()
    assert [e["response"]["status"] for e in bundle["entry"]] == ["201 Created", "201 Created"]
    assert bundle["entry"][0]["resource"]["subject"]["reference"] == "Patient/ehr-7"
    assert search_ids(client, "Observation?patient=ehr-7") == {bundle["entry"][0]["resource"]["id"]}


def test_transaction_resolves_urn_uuid_full_urls_of_conditional_put_entries(client):
    existing = create(client, patient())
    bundle = client.post("/fhir", json=_transaction(
        {"resource": _observation(PATIENT_URN), "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": PATIENT_URN, "resource": patient(family="Changed"),
         "request": {"method": "PUT", "url": f"Patient?identifier={SYSTEM}|100001"}})).get_json()
    assert bundle["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{existing['id']}"
    assert bundle["entry"][1]["response"]["status"] == "200 OK"
