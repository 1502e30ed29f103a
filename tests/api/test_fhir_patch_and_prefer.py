"""JSON Patch, JSON Merge Patch, and Prefer: return=minimal | representation | OperationOutcome."""

from __future__ import annotations

from api.fhir_data import create, patient

JSON_PATCH = "application/json-patch+json"


def test_json_patch_changes_the_named_element(client):
    stored = create(client, patient())
    response = client.patch(f"/fhir/Patient/{stored['id']}", content_type=JSON_PATCH,
                            json=[{"op": "replace", "path": "/name/0/family", "value": "Patched"},
                                  {"op": "add", "path": "/gender", "value": "female"}])
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"][0]["family"] == "Patched" and body["gender"] == "female"
    assert body["meta"]["versionId"] == "2"


def test_json_patch_whose_test_fails_is_422_and_changes_nothing(client):
    stored = create(client, patient())
    response = client.patch(f"/fhir/Patient/{stored['id']}", content_type=JSON_PATCH,
                            json=[{"op": "test", "path": "/name/0/family", "value": "Wrong"},
                                  {"op": "remove", "path": "/name"}])
    assert response.status_code == 422
    assert client.get(f"/fhir/Patient/{stored['id']}").get_json()["meta"]["versionId"] == "1"


def test_patch_that_makes_an_invalid_resource_is_422(client):
    stored = create(client, patient())
    response = client.patch(f"/fhir/Patient/{stored['id']}", content_type=JSON_PATCH,
                            json=[{"op": "add", "path": "/birthDate", "value": "yesterday"}])
    assert response.status_code == 422
    assert response.get_json()["issue"][0]["expression"] == ["Patient.birthDate"]


def test_merge_patch_object_updates_top_level_elements(client):
    stored = create(client, patient())
    response = client.patch(f"/fhir/Patient/{stored['id']}", json={"active": False})
    assert response.status_code == 200
    assert response.get_json()["active"] is False


def test_patch_with_a_stale_if_match_is_412(client):
    stored = create(client, patient())
    response = client.patch(f"/fhir/Patient/{stored['id']}", json={"active": True}, headers={"If-Match": 'W/"7"'})
    assert response.status_code == 412


def test_prefer_return_minimal_answers_without_a_body(client):
    response = client.post("/fhir/Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert response.status_code == 201
    assert response.data == b""
    assert response.headers["Location"]


def test_prefer_return_operation_outcome_answers_with_an_outcome(client):
    response = client.post("/fhir/Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"})
    assert response.status_code == 201
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert response.get_json()["issue"][0]["severity"] == "information"


def test_prefer_return_representation_on_create_answers_the_resource_as_stored(client):
    response = client.post("/fhir/Patient", json=patient(), headers={"Prefer": "return=representation"})
    assert response.get_json() == client.get(f"/fhir/Patient/{response.get_json()['id']}").get_json()


def _renamed(stored: dict) -> dict:
    return {**patient(family="Renamed"), "id": stored["id"]}


def test_prefer_return_representation_on_update_answers_the_new_version_as_stored(client):
    stored = create(client, patient())
    response = client.put(f"/fhir/Patient/{stored['id']}", json=_renamed(stored),
                          headers={"Prefer": "return=representation"})
    assert response.get_json() == client.get(f"/fhir/Patient/{stored['id']}").get_json()
    assert response.get_json()["meta"]["versionId"] == "2"


def test_prefer_return_representation_on_patch_answers_the_patched_resource_not_the_patch(client):
    stored = create(client, patient())
    response = client.patch(f"/fhir/Patient/{stored['id']}", json={"active": True},
                            headers={"Prefer": "return=representation"})
    assert response.get_json() == client.get(f"/fhir/Patient/{stored['id']}").get_json()
    assert response.get_json()["name"] == stored["name"] and response.get_json()["active"] is True


def test_prefer_return_minimal_on_update_answers_headers_only(client):
    stored = create(client, patient())
    response = client.put(f"/fhir/Patient/{stored['id']}", json=_renamed(stored), headers={"Prefer": "return=minimal"})
    assert response.status_code == 200 and response.data == b""
    assert response.headers["ETag"] == 'W/"2"'


def test_prefer_return_operation_outcome_on_patch_says_it_was_updated(client):
    stored = create(client, patient())
    response = client.patch(f"/fhir/Patient/{stored['id']}", json={"active": True},
                            headers={"Prefer": "return=OperationOutcome"})
    assert response.status_code == 200
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert response.get_json()["issue"][0]["details"]["coding"][0]["code"] == "updated"


def _transaction_creating_a_patient(client, prefer: str) -> dict:
    return client.post("/fhir", headers={"Prefer": prefer}, json={
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": patient(), "request": {"method": "POST", "url": "Patient"}}]}).get_json()


def test_prefer_return_minimal_on_a_transaction_leaves_the_resources_out(client):
    entry = _transaction_creating_a_patient(client, "return=minimal")["entry"][0]
    assert "resource" not in entry
    assert entry["response"]["status"] == "201 Created" and entry["response"]["location"].startswith("Patient/")


def test_prefer_return_operation_outcome_on_a_transaction_answers_an_outcome_per_entry(client):
    entry = _transaction_creating_a_patient(client, "return=OperationOutcome")["entry"][0]
    assert "resource" not in entry
    assert entry["response"]["outcome"]["issue"][0]["details"]["coding"][0]["code"] == "created"


def test_prefer_return_representation_on_a_transaction_answers_each_stored_resource(client):
    entry = _transaction_creating_a_patient(client, "return=representation")["entry"][0]
    assert entry["resource"] == client.get(f"/fhir/Patient/{entry['resource']['id']}").get_json()


def test_patch_of_an_unknown_resource_is_404(client):
    response = client.patch("/fhir/Patient/nobody", json={"active": True})
    assert response.status_code == 404
    assert response.get_json()["issue"][0]["details"]["coding"][0]["code"] == "unknown-resource"


def test_patch_of_a_deleted_resource_is_410(client):
    stored = create(client, patient())
    client.delete(f"/fhir/Patient/{stored['id']}")
    response = client.patch(f"/fhir/Patient/{stored['id']}", json={"active": True})
    assert response.status_code == 410


def test_patch_that_changes_the_id_is_422_and_changes_nothing(client):
    stored = create(client, patient())
    response = client.patch(f"/fhir/Patient/{stored['id']}", content_type=JSON_PATCH,
                            json=[{"op": "replace", "path": "/id", "value": "someone-else"}])
    assert response.status_code == 422
    assert response.get_json()["issue"][0]["details"]["coding"][0]["code"] == "patch-changes-identity"
    assert client.get("/fhir/Patient/someone-else").status_code == 404
    assert client.get(f"/fhir/Patient/{stored['id']}").get_json()["meta"]["versionId"] == "1"
