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


def test_prefer_return_representation_answers_with_the_resource(client):
    response = client.post("/fhir/Patient", json=patient(), headers={"Prefer": "return=representation"})
    assert response.get_json()["resourceType"] == "Patient"
