"""GET /metadata states exactly what the server supports."""

from __future__ import annotations

from engine.fhir_api.capabilities import SUPPORTED_TYPES
from engine.repository.search_index import parameters_for
from engine.repository.validation import validate_resource


def test_capability_statement_is_valid_and_lists_the_supported_types(client):
    statement = client.get("/fhir/metadata").get_json()
    validate_resource(statement)
    resources = statement["rest"][0]["resource"]
    assert [r["type"] for r in resources] == [*SUPPORTED_TYPES, "AuditEvent"]  # the audit trail, read-only
    assert statement["fhirVersion"] == "4.0.1"
    assert {i["code"] for i in statement["rest"][0]["interaction"]} == {"transaction", "batch"}


def test_capability_statement_lists_every_indexed_search_parameter(client):
    statement = client.get("/fhir/metadata").get_json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    stated = {p["name"] for p in patient["searchParam"]}
    assert stated == {p.name for p in parameters_for("Patient")} | {"_id", "_lastUpdated"}
    assert "Patient:general-practitioner" in patient["searchInclude"]
    assert "Observation:subject" in patient["searchRevInclude"]


def test_every_listed_search_parameter_is_accepted_strictly(client):
    statement = client.get("/fhir/metadata").get_json()
    for resource in statement["rest"][0]["resource"]:
        for param in resource["searchParam"]:
            value = {"date": "2024", "reference": "x", "token": "x", "string": "x"}[param["type"]]
            response = client.get(f"/fhir/{resource['type']}?{param['name']}={value}&_summary=count",
                                  headers={"Prefer": "handling=strict"})
            assert response.status_code == 200, (resource["type"], param["name"])


def test_binary_states_no_identifier_parameter_and_refuses_one_strictly(client):
    statement = client.get("/fhir/metadata").get_json()
    binary = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Binary")
    assert {p["name"] for p in binary["searchParam"]} == {"_id", "_lastUpdated"}
    response = client.get("/fhir/Binary?identifier=x", headers={"Prefer": "handling=strict"})
    assert response.status_code == 400
