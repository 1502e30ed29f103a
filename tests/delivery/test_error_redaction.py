"""A destination's error answer reaches operators as its status, error code and field names, never
as the values it quotes back: a 422 saying "client email jane.roe@example.org already exists"
is parked with the status and the field, not the e-mail or the name."""

from __future__ import annotations

import json

import fhir_records as fr
import pytest
import requests
from delivery_config import engine_config
from flask import Flask, jsonify, request
from http_standin import Served
from operator_tools import admin_api
from test_carepatron_kinds import settle
from test_other_destinations import only

from connectors.outbound.http_answers import problem_text
from engine.delivery.redaction import redact

EMAIL = "jane.roe@example.org"
#: What a test patient holds that no operator-facing text may repeat.
PHI = (EMAIL, "Jane", "Roe", "1980-02-14", "R-100234")


def jane() -> dict:
    return {**fr.patient("R-100234", family="Roe", given="Jane"),
            "telecom": [{"system": "email", "value": EMAIL}]}


def answer(status: int, body, reason: str | None = None, sent: dict | None = None) -> requests.Response:
    """An answer as ``requests`` gives it, to a request that sent ``sent`` as JSON."""
    response = requests.Response()
    response.status_code, response.reason = status, reason
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    if sent is not None:
        response.request = requests.Request("POST", "http://127.0.0.1/clients", json=sent).prepare()
    return response


def assert_no_phi(text: str) -> None:
    assert not [value for value in PHI if value in text], text


# The free-text redaction ---------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("client email jane.roe@example.org already exists", "client email <email> already exists"),
    ("Client Jane Roe already exists", "Client <name> already exists"),
    ("Jane Roe already exists", "<name> already exists"),
    ("a client named jane roe exists", "a client named <name> exists"),
    ("Duplicate patient: ROE^JANE (MRN 100234, born 14/02/1980).",
     "Duplicate patient: <name> (MRN <number>, born <number>)."),
    ("call +61 412 345 678 or see https://ehr.example.org/p/1", "call <number> or see <url>"),
    ("birthDate '1980-02-14' is not a date", "birthDate <value> is not a date"),
    ("patient O'Brien can't be found", "patient <name> can't be found"),
])
def test_values_in_free_text_are_replaced_and_the_words_kept(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    "The simulator was told to reject clients.",
    "must be at most 50 characters",
    "Patient.birthDate is required in a FHIR JSON body",
    "OperationOutcome says the reference is unknown",
])
def test_text_without_values_is_kept_as_it_is(text):
    assert redact(text) == text


def test_redacted_text_is_one_bounded_line():
    text = redact("line one\nline two " + "word " * 500)
    assert "\n" not in text and len(text) <= 300 and text.endswith("…")


# The account of an answer -----------------------------------------------------------------

def test_a_problem_answer_keeps_status_code_and_field_names_and_redacts_the_messages():
    text = problem_text(answer(422, {
        "type": "https://api.example.org/problems/validation-failed", "title": "Unprocessable Entity",
        "status": 422, "detail": f"client email {EMAIL} already exists",
        "errors": {"email": [f"{EMAIL} is already used by client Jane Roe"], "dateOfBirth": ["'1980-02-14' is late"]}}))
    assert text == ("HTTP 422 validation-failed: client email <email> already exists "
                    "(email: <email> is already used by client <name>; dateOfBirth: <value> is late)")


def test_an_operation_outcome_keeps_issue_codes_and_expressions():
    text = problem_text(answer(422, {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "invalid", "expression": ["Patient.birthDate"],
         "diagnostics": "Invalid date '1980-02-14' for patient Jane Roe"},
        {"severity": "error", "code": "duplicate", "details": {"text": "Patient with MRN R-100234 exists"}}]}))
    assert text.startswith("HTTP 422: invalid at Patient.birthDate: ") and "; duplicate: " in text
    assert_no_phi(text)


def test_field_errors_given_as_a_list_name_their_fields():
    text = problem_text(answer(400, {"message": "Validation failed", "fieldErrors": [
        {"field": "email", "message": "is taken"}, {"field": "lastName", "message": "must not be blank"}]}))
    assert text == "HTTP 400: Validation failed (email: is taken; lastName: must not be blank)"


def test_values_the_engine_sent_are_replaced_wherever_the_answer_quotes_them():
    sent = {"resourceType": "Patient", "name": [{"family": "Roe", "given": ["Jane"]}], "birthDate": "1980-02-14",
            "telecom": [{"system": "email", "value": EMAIL}]}
    text = problem_text(answer(422, {"errors": [{"field": "name", "message": "Roe is too short"},
                                                {"field": "email", "message": "email of jane roe is taken"}]},
                               sent=sent))
    assert text == "HTTP 422 (name: <value> is too short; email: email of <value> is taken)"


def test_an_error_code_given_as_error_is_the_code():
    text = problem_text(answer(409, {"error": "duplicate_client", "error_description": "A client named Jane Roe"}))
    assert text == "HTTP 409 duplicate_client: A client named <name>"


def test_an_answer_that_is_not_json_gives_the_status_and_a_redacted_reason():
    assert problem_text(answer(500, b"<html>Jane Roe</html>", "Internal Server Error")) == \
        "HTTP 500 Internal Server Error"
    assert problem_text(answer(422, b"no", "Client Jane Roe exists")) == "HTTP 422 Client <name> exists"


# Through the engine, against real HTTP stand-ins -------------------------------------------

def carepatron_refusing_duplicates() -> Flask:
    """Answers every new client with a 422 that quotes the client's e-mail and name back, as a real API may."""
    app = Flask("carepatron-standin")

    @app.get("/clients")
    def find():
        return jsonify(items=[], nextCursor=None)

    @app.post("/clients")
    def create():
        body = request.get_json()
        problem = {"type": "https://carepatron.invalid/problems/validation-failed", "title": "Unprocessable Entity",
                   "status": 422, "detail": f"client email {body['email']} already exists",
                   "errors": {"email": [f"{body['email']} is already used by client {body['firstName']} "
                                        f"{body['lastName']} born {body['dateOfBirth']}"]}}
        return app.response_class(json.dumps(problem), status=422, mimetype="application/problem+json")

    return app


def test_a_parked_carepatron_422_shows_status_and_field_but_not_the_patient(make_runtime):
    with Served(carepatron_refusing_duplicates()) as standin:
        runtime = make_runtime(CAREPATRON_BASE_URL=standin.url)
        patient, ids = fr.write(runtime, jane())
        [parked] = settle(runtime, ids)
        assert parked.status == "failed"
        with admin_api(runtime) as api:
            [listed] = requests.get(f"{api.url}/admin/api/deliveries").json()["deliveries"]
            log = requests.get(f"{api.url}/admin/api/patients/{patient.id}/sync-log").json()["entries"]
    reasons = [listed["reason"], *(entry["details"] for entry in log)]
    assert all("HTTP 422 validation-failed" in r and "email" in r for r in reasons), reasons
    for reason in reasons:
        assert_no_phi(reason)


def test_a_parked_fhir_server_422_shows_the_issue_and_element_but_not_the_patient(make_runtime, tmp_path):
    app = Flask("fhir-standin")

    @app.put("/Patient")
    def refuse():
        body = request.get_json(force=True)
        name = body["name"][0]
        return jsonify(resourceType="OperationOutcome", issue=[{
            "severity": "error", "code": "invariant", "expression": ["Patient.telecom"],
            "diagnostics": f"{name['given'][0]} {name['family']} <{body['telecom'][0]['value']}> is on file"}]), 422

    with Served(app) as server:
        runtime = make_runtime(engine_config(tmp_path, extra_destinations=[
            {"name": "hie", "type": "fhir", "base_url": server.url}], routes=only("hie")))
        _, ids = fr.write(runtime, jane())
        [parked] = settle(runtime, ids)
    assert parked.status == "failed" and "HTTP 422: invariant at Patient.telecom" in parked.last_error
    assert_no_phi(parked.last_error)
