"""Limits on one request: a request over a limit is answered at once with a 4xx OperationOutcome
naming the limit and its setting (or the element at fault), writes nothing, and the engine
answers the next request as usual."""

from __future__ import annotations

import base64
import dataclasses
import json
import time

import pytest

from api.fhir_data import create, patient, search_ids
from support.hl7_messages import adt

JSON_PATCH = "application/json-patch+json"
FHIR_JSON = "application/fhir+json"


@pytest.fixture
def client_with(runtime):
    """A test client of the same engine whose environment adds ``env`` (the limits are read per app)."""
    from carebridge.app import create_app
    from engine.config.environment import Settings

    def make(**env: str):
        settings = Settings.from_env({**runtime.settings.environ, **env})
        return create_app(dataclasses.replace(runtime, settings=settings)).test_client()

    return make


def _refused(response, status: int, code: str, named: str | None = None) -> dict:
    """The first issue of a refusal, after checking its status, stable code and what it names."""
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["resourceType"] == "OperationOutcome"
    found = body["issue"][0]
    assert found["details"]["coding"][0]["code"] == code
    if named:
        assert named in found["diagnostics"] or named in found.get("expression", []), found
    return found


def _still_answers(client) -> None:
    """A good request right after the refused one is answered."""
    stored = create(client, patient(family="Afterwards", mrn="after-1"))
    assert client.get(f"/fhir/Patient/{stored['id']}").status_code == 200


def _nested(depth: int) -> dict:
    """A Patient whose extension holds extensions ``depth`` deep."""
    extension = {"url": "urn:example:leaf", "valueString": "leaf"}
    for _ in range(depth):
        extension = {"url": "urn:example:branch", "extension": [extension]}
    return {"resourceType": "Patient", "extension": [extension]}


# JSON depth -------------------------------------------------------------------------------------

def test_json_nested_10000_deep_is_400_too_deep(client):
    response = client.post("/fhir/Patient", data="[" * 10_000 + "]" * 10_000, content_type=FHIR_JSON)
    _refused(response, 400, "json-too-deep", "CAREBRIDGE_FHIR_MAX_JSON_DEPTH")
    _still_answers(client)


def test_extensions_nested_400_deep_are_400_too_deep(client):
    response = client.post("/fhir/Patient", data=json.dumps(_nested(400)), content_type=FHIR_JSON)
    _refused(response, 400, "json-too-deep", "CAREBRIDGE_FHIR_MAX_JSON_DEPTH")
    _still_answers(client)


def test_extensions_nested_within_the_depth_limit_are_stored(client):
    assert create(client, _nested(40))["extension"][0]["url"] == "urn:example:branch"


def test_a_resource_too_deep_for_the_validator_is_invalid_not_an_error():
    from engine.repository.validation import ResourceInvalid, validate_resource

    with pytest.raises(ResourceInvalid) as refused:
        validate_resource(_nested(400))
    assert refused.value.issues[0].expression == "Patient"


def test_the_json_depth_setting_cannot_be_raised_past_what_the_engine_reads():
    from engine.fhir_api.limits import FhirLimits
    from foundation.yaml_files import ConfigError

    with pytest.raises(ConfigError, match="CAREBRIDGE_FHIR_MAX_JSON_DEPTH: must be 200 or less"):
        FhirLimits.from_environ({"CAREBRIDGE_FHIR_MAX_JSON_DEPTH": "5000"})


# JSON Patch -------------------------------------------------------------------------------------

def test_a_json_patch_that_keeps_doubling_the_resource_is_413_quickly(client):
    stored = create(client, patient())
    # Each pair of copies doubles the document: 18 pairs would make it about 3 MB.
    doubling = [{"op": "copy", "from": "/zz", "path": "/yy"}, {"op": "copy", "from": "/yy", "path": "/zz/-"}]
    started = time.monotonic()
    response = client.patch(f"/fhir/Patient/{stored['id']}", content_type=JSON_PATCH,
                            json=[{"op": "add", "path": "/zz", "value": ["0123456789"]}, *doubling * 18])
    assert time.monotonic() - started < 5
    _refused(response, 413, "patch-result-too-large", "CAREBRIDGE_FHIR_MAX_PATCH_RESULT_BYTES")
    assert client.get(f"/fhir/Patient/{stored['id']}").get_json()["meta"]["versionId"] == "1"
    _still_answers(client)


def test_a_json_patch_result_limit_is_a_setting(client_with):
    client = client_with(CAREBRIDGE_FHIR_MAX_PATCH_RESULT_BYTES="2000")
    stored = create(client, patient())
    names = [{"op": "add", "path": "/name/-", "value": {"family": "Testperson", "given": ["Ada"]}}] * 60
    response = client.patch(f"/fhir/Patient/{stored['id']}", content_type=JSON_PATCH, json=names)
    _refused(response, 413, "patch-result-too-large", "over the limit of 2000")
    assert client.patch(f"/fhir/Patient/{stored['id']}", content_type=JSON_PATCH, json=names[:5]).status_code == 200


def test_a_json_patch_copying_a_value_into_itself_is_422(client):
    stored = create(client, patient())
    into_itself = [{"op": "add", "path": "/zz", "value": [1]}] + [{"op": "copy", "from": "/zz", "path": "/zz/-"}] * 16
    response = client.patch(f"/fhir/Patient/{stored['id']}", content_type=JSON_PATCH, json=into_itself)
    _refused(response, 422, "patch-into-itself", "operation 1")
    _still_answers(client)


def test_a_json_patch_with_more_operations_than_the_limit_is_413(client):
    stored = create(client, patient())
    tests = [{"op": "test", "path": "/id", "value": stored["id"]}] * 101
    response = client.patch(f"/fhir/Patient/{stored['id']}", content_type=JSON_PATCH, json=tests)
    _refused(response, 413, "too-many-patch-operations", "CAREBRIDGE_FHIR_MAX_PATCH_OPERATIONS")
    assert client.patch(f"/fhir/Patient/{stored['id']}", content_type=JSON_PATCH, json=tests[:100]).status_code == 200


def test_a_transaction_patch_entry_over_the_limit_is_refused_and_writes_nothing(client):
    stored = create(client, patient())
    tests = [{"op": "test", "path": "/id", "value": stored["id"]}] * 101
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient(mrn="tx-1"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Binary", "contentType": JSON_PATCH,
                      "data": base64.b64encode(json.dumps(tests).encode()).decode()},
         "request": {"method": "PATCH", "url": f"Patient/{stored['id']}"}}]}
    _refused(client.post("/fhir", json=bundle), 413, "too-many-patch-operations")
    assert search_ids(client, "Patient?identifier=tx-1") == set()


# Bundles ----------------------------------------------------------------------------------------

def test_a_bundle_with_more_entries_than_the_limit_is_413_before_any_write(client):
    entries = [{"resource": patient(mrn=f"b-{n}"), "request": {"method": "POST", "url": "Patient"}}
               for n in range(1001)]
    response = client.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": entries})
    found = _refused(response, 413, "too-many-entries", "CAREBRIDGE_FHIR_MAX_BUNDLE_ENTRIES")
    assert found["expression"] == ["Bundle.entry"]
    assert search_ids(client, "Patient?identifier=b-0") == set()
    _still_answers(client)


def test_the_bundle_entry_limit_is_a_setting(client_with):
    client = client_with(CAREBRIDGE_FHIR_MAX_BUNDLE_ENTRIES="2")
    entries = [{"resource": patient(mrn=f"s-{n}"), "request": {"method": "POST", "url": "Patient"}} for n in range(3)]
    response = client.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
    _refused(response, 413, "too-many-entries", "over the limit of 2")
    response = client.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries[:2]})
    assert response.status_code == 200


def test_a_transaction_entry_whose_url_is_a_number_is_400(client):
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": patient(mrn="num-1"), "request": {"method": "POST", "url": 123}}]}
    found = _refused(client.post("/fhir", json=bundle), 400, "invalid-bundle")
    assert found["expression"] == ["Bundle.entry[0].request.url"]
    assert search_ids(client, "Patient?identifier=num-1") == set()
    _still_answers(client)


# Search -----------------------------------------------------------------------------------------

def test_a_search_parameter_with_more_values_than_the_limit_is_400(client):
    response = client.get("/fhir/Patient?family=" + ",".join(f"name{n}" for n in range(600)))
    _refused(response, 400, "too-many-search-values", "CAREBRIDGE_FHIR_MAX_SEARCH_VALUES")
    assert client.get("/fhir/Patient?family=" + ",".join(f"name{n}" for n in range(100))).status_code == 200


def test_a_search_with_more_parameters_than_the_limit_is_400(client):
    response = client.get("/fhir/Patient?" + "&".join(f"family=name{n}" for n in range(2000)))
    _refused(response, 400, "too-many-search-parameters", "CAREBRIDGE_FHIR_MAX_SEARCH_PARAMETERS")
    _still_answers(client)


def test_a_search_with_more_values_in_all_than_the_limit_is_400(client):
    ored = "birthdate=" + ",".join(f"ge19{n:02d}" for n in range(100))
    response = client.get("/fhir/Patient?" + "&".join([ored] * 100))
    _refused(response, 400, "too-many-search-values", "CAREBRIDGE_FHIR_MAX_SEARCH_TOTAL_VALUES")
    _still_answers(client)


def test_conditional_criteria_over_the_limit_are_400(client):
    criteria = "identifier=" + ",".join(f"sys|{n}" for n in range(600))
    response = client.post("/fhir/Patient", json=patient(mrn="cond-1"), headers={"If-None-Exist": criteria})
    _refused(response, 400, "too-many-search-values", "CAREBRIDGE_FHIR_MAX_SEARCH_VALUES")
    assert search_ids(client, "Patient?identifier=cond-1") == set()


def test_id_takes_a_page_of_ids(client):
    stored = create(client, patient())
    ids = [stored["id"], *(f"missing-{n}" for n in range(999))]
    assert search_ids(client, "Patient?_id=" + ",".join(ids)) == {stored["id"]}


# Admin listings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", ["-1", "0"])
def test_an_admin_listing_limit_below_one_lists_one(client, limit):
    for n in range(3):
        client.post("/hl7", data=adt("A01", f"CTRL-LIMIT-{n}"))
    response = client.get(f"/admin/api/messages?limit={limit}")
    assert response.status_code == 200
    assert len(response.get_json()["items"]) == 1


def test_an_admin_listing_limit_above_the_page_is_held_to_the_page(client):
    for n in range(3):
        client.post("/hl7", data=adt("A01", f"CTRL-HUGE-{n}"))
    response = client.get("/admin/api/messages?limit=1000000000")
    assert response.status_code == 200
    assert len(response.get_json()["items"]) == 3


# Elements the models let through ----------------------------------------------------------------

def test_a_body_of_another_type_than_the_url_is_400_and_stores_nothing(client):
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "weight"}}
    found = _refused(client.post("/fhir/Patient", json=observation), 400, "type-mismatch")
    assert found["expression"] == ["resourceType"]
    assert client.get("/fhir/Observation").get_json().get("entry", []) == []
    _still_answers(client)


def test_a_bundle_entry_of_another_type_than_its_url_is_400(client):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Organization", "name": "Clinic"},
         "request": {"method": "POST", "url": "Patient"}}]}
    _refused(client.post("/fhir", json=bundle), 400, "type-mismatch")


@pytest.mark.parametrize("element, value, expression", [
    ("active", "yes", "Patient.active"),
    ("active", 1, "Patient.active"),
    ("gender", "SECRETGENDER", "Patient.gender"),
    ("multipleBirthInteger", "3", "Patient.multipleBirthInteger"),
])
def test_a_value_the_element_does_not_allow_is_422_naming_it(client, element, value, expression):
    response = client.post("/fhir/Patient", json=patient(**{element: value}))
    found = _refused(response, 422, "invalid-resource")
    assert found["expression"] == [expression]
    assert str(value) not in response.get_data(as_text=True).replace("invalid-resource", "")
    _still_answers(client)


def test_an_infinite_decimal_is_422_naming_the_element(client):
    body = ('{"resourceType": "Observation", "status": "final", "code": {"text": "weight"},'
            ' "valueQuantity": {"value": 1e999999999}}')
    found = _refused(client.post("/fhir/Observation", data=body, content_type=FHIR_JSON), 422, "invalid-resource")
    assert found["expression"] == ["Observation.valueQuantity.value"]
    _still_answers(client)


def test_values_of_the_right_json_types_are_stored(client):
    stored = create(client, patient(active=True, gender="female", multipleBirthInteger=2, birthDate="1980-02-14"))
    assert (stored["active"], stored["gender"], stored["multipleBirthInteger"]) == (True, "female", 2)
