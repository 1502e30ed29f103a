"""Conditional create, update and delete: none, one or several matches."""

from __future__ import annotations

from api.fhir_data import SYSTEM, create, patient, search_ids

IDENTIFIER = f"identifier={SYSTEM}|100001"


def test_conditional_create_without_a_match_creates(client):
    response = client.post("/fhir/Patient", json=patient(), headers={"If-None-Exist": IDENTIFIER})
    assert response.status_code == 201


def test_conditional_create_with_one_match_returns_it_with_200(client):
    stored = create(client, patient())
    response = client.post("/fhir/Patient", json=patient(family="Other"), headers={"If-None-Exist": IDENTIFIER})
    assert response.status_code == 200
    assert response.get_json()["id"] == stored["id"]
    assert response.get_json()["name"][0]["family"] == "Testperson"


def test_conditional_create_with_several_matches_is_412(client):
    create(client, patient())
    create(client, patient(given="Twin"))
    response = client.post("/fhir/Patient", json=patient(), headers={"If-None-Exist": IDENTIFIER})
    assert response.status_code == 412


def test_conditional_create_with_an_unknown_parameter_is_400(client):
    response = client.post("/fhir/Patient", json=patient(), headers={"If-None-Exist": "shoe-size=9"})
    assert response.status_code == 400


def test_conditional_update_updates_the_one_match(client):
    stored = create(client, patient())
    response = client.put(f"/fhir/Patient?{IDENTIFIER}", json=patient(family="Updated"))
    assert response.status_code == 200
    assert response.get_json()["id"] == stored["id"]
    assert response.get_json()["meta"]["versionId"] == "2"


def test_conditional_update_without_a_match_creates(client):
    response = client.put(f"/fhir/Patient?{IDENTIFIER}", json=patient())
    assert response.status_code == 201


def test_conditional_update_with_several_matches_is_412(client):
    create(client, patient())
    create(client, patient(given="Twin"))
    assert client.put(f"/fhir/Patient?{IDENTIFIER}", json=patient()).status_code == 412


def test_conditional_delete_removes_the_one_match(client):
    stored = create(client, patient())
    assert client.delete(f"/fhir/Patient?{IDENTIFIER}").status_code == 200
    assert client.get(f"/fhir/Patient/{stored['id']}").status_code == 410


def test_conditional_delete_with_several_matches_is_412_and_deletes_nothing(client):
    create(client, patient())
    create(client, patient(given="Twin"))
    assert client.delete(f"/fhir/Patient?{IDENTIFIER}").status_code == 412
    assert len(search_ids(client, f"Patient?{IDENTIFIER}")) == 2


def test_conditional_delete_without_criteria_is_refused(client):
    create(client, patient())
    assert client.delete("/fhir/Patient").status_code == 400
