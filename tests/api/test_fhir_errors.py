"""Every 4xx and 5xx is an OperationOutcome with a stable code; XML is refused."""

from __future__ import annotations

import json

from api.fhir_data import patient


def _code(response) -> str:
    return response.get_json()["issue"][0]["details"]["coding"][0]["code"]


def test_an_unsupported_type_is_404_naming_the_supported_ones(client):
    response = client.get("/fhir/MedicationRequest/1")
    assert response.status_code == 404
    assert _code(response) == "unsupported-type"
    assert "Patient" in response.get_json()["issue"][0]["diagnostics"]
    assert "ChargeItem" in response.get_json()["issue"][0]["diagnostics"]


def test_an_invalid_resource_is_422_naming_the_element(client):
    response = client.post("/fhir/Patient", json={"resourceType": "Patient", "birthDate": "14/02/1980"})
    assert response.status_code == 422
    assert response.get_json()["issue"][0]["expression"] == ["Patient.birthDate"]
    assert "14/02/1980" not in response.get_data(as_text=True)


def test_a_body_of_another_type_than_the_url_is_refused(client):
    response = client.put("/fhir/Patient/x", json={"resourceType": "Organization", "id": "x"})
    assert response.status_code == 400


def test_unparseable_json_is_400(client):
    response = client.post("/fhir/Patient", data="{not json", content_type="application/fhir+json")
    assert response.status_code == 400
    assert _code(response) == "unparseable-json"


def test_an_xml_body_is_415(client):
    response = client.post("/fhir/Patient", data="<Patient xmlns='http://hl7.org/fhir'/>",
                           content_type="application/fhir+xml")
    assert response.status_code == 415
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_asking_for_xml_is_406(client):
    response = client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"})
    assert response.status_code == 406
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_format_xml_is_406(client):
    assert client.get("/fhir/metadata?_format=xml").status_code == 406


def test_an_unsupported_method_is_405_with_an_outcome(client):
    response = client.post("/fhir/Patient/some-id", json=patient())
    assert response.status_code == 405
    assert _code(response) == "unsupported-interaction"


def test_an_unknown_path_is_404_with_an_outcome(client):
    response = client.get("/fhir/Patient/a/b")
    assert response.status_code == 404
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_an_invalid_id_is_400(client):
    response = client.put("/fhir/Patient/has_underscore", json={"resourceType": "Patient", "id": "has_underscore"})
    assert response.status_code == 400
    assert _code(response) == "invalid-id"


def test_a_server_failure_is_500_with_an_outcome_and_no_values_in_the_log(client, runtime, caplog, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret-patient-name")

    monkeypatch.setattr(runtime.repository, "save", broken)
    response = client.post("/fhir/Patient", json=patient())
    assert response.status_code == 500
    assert _code(response) == "internal-error"
    assert "secret-patient-name" not in response.get_data(as_text=True)
    assert "secret-patient-name" not in caplog.text


def test_an_oversized_body_is_413_with_an_outcome(client, runtime):
    limit = runtime.settings.mllp_max_message_bytes
    response = client.post("/fhir/Patient", data=json.dumps({"resourceType": "Patient", "x": "a" * limit}),
                           content_type="application/fhir+json")
    assert response.status_code == 413
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_a_method_no_route_takes_is_405_with_an_outcome(client):
    for method in ("TRACE", "CONNECT", "PROPFIND"):
        response = client.open("/fhir/Patient", method=method)
        assert response.status_code == 405, method
        assert response.get_json()["resourceType"] == "OperationOutcome", method
        assert response.headers["Content-Type"].startswith("application/fhir+json")


def test_routing_errors_outside_the_fhir_api_stay_as_they_were(client):
    response = client.open("/healthz", method="TRACE")
    assert response.status_code == 405
    assert "OperationOutcome" not in response.get_data(as_text=True)


def test_a_choice_element_given_as_two_types_is_422_naming_the_element(client):
    response = client.post("/fhir/Patient", json={"resourceType": "Patient", "deceasedBoolean": True,
                                                  "deceasedDateTime": "2020-01-01"})
    assert response.status_code == 422
    assert response.get_json()["issue"][0]["expression"] == ["Patient.deceased[x]"]


def test_a_nested_choice_element_given_as_two_types_is_named_with_its_path(client):
    response = client.post("/fhir/Observation", json={
        "resourceType": "Observation", "status": "final", "code": {"text": "panel"},
        "component": [{"code": {"text": "one"}, "valueString": "a", "valueBoolean": True}]})
    assert response.status_code == 422
    assert response.get_json()["issue"][0]["expression"] == ["Observation.component[0].value[x]"]
