"""The admin API fuzzed from its own OpenAPI document (``GET /admin/api/openapi.json``) with
schemathesis: requests that follow the document and requests that break it, for every operation,
sent as an admin with a personal token. No answer is a server error.

Integers stay within 64 bits: past that every id (path, query, body) is a 500 today, which the
xfail below documents until the routes refuse such ids themselves."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from support.access import bearer

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
#: Requests per operation and kind (following the document, breaking it).
EXAMPLES_PER_OPERATION = 120
#: The integers a database id can be (SQLite and PostgreSQL both store 64-bit signed integers).
INT64 = {"minimum": -(2 ** 63), "maximum": 2 ** 63 - 1}


def _fits_64_bits(node) -> bool:
    """Whether no number in ``node`` (a case's path, query or body), as int or digits, is past 64 bits."""
    if isinstance(node, dict):
        return all(_fits_64_bits(value) for value in node.values())
    if isinstance(node, (list, tuple)):
        return all(_fits_64_bits(item) for item in node)
    if isinstance(node, bool):
        return True
    if isinstance(node, int):
        return -(2 ** 63) <= node < 2 ** 63
    if isinstance(node, str) and node.lstrip("+-").isdigit():
        return len(node.lstrip("+-0")) <= 18
    return True


def _cases(operation):
    """Cases following the document and cases breaking it, numbers past 64 bits left out."""
    modes = [operation.as_strategy(GenerationMode.POSITIVE)]
    try:
        modes.append(operation.as_strategy(GenerationMode.NEGATIVE))
    except Exception:  # an operation with nothing to break (no parameters, no body)
        pass
    return st.one_of(modes).filter(
        lambda case: _fits_64_bits([case.path_parameters, case.query, case.body if isinstance(case.body, (
            dict, list, int, str)) else None]))


def _bounded(node):
    """``node`` with every integer schema in it bounded to 64 bits."""
    if isinstance(node, dict):
        bounded = {key: _bounded(value) for key, value in node.items()}
        return {**INT64, **bounded} if node.get("type") == "integer" else bounded
    if isinstance(node, list):
        return [_bounded(item) for item in node]
    return node


@pytest.mark.timeout(180)
def test_no_admin_api_operation_answers_a_server_error(secured):
    for name in ("adt_a01.hl7", "adt_a08.hl7"):  # messages, resources and deliveries to find
        secured.pipeline.receive_hl7((EXAMPLES / name).read_bytes(), "mllp")
    secured.access.users.add("fuzz-admin", "admin", "a-password-123")
    headers = bearer(secured.access.users.issue_token("fuzz-admin"))
    app = secured.client.application
    document = secured.client.get("/admin/api/openapi.json", headers=headers).get_json()
    schema = schemathesis.openapi.from_dict(_bounded(document))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=_cases(operation))
        def answers_without_a_server_error(case):
            response = case.call(app=app, headers=headers)
            case.validate_response(response, checks=[not_a_server_error], headers=headers)

        answers_without_a_server_error()


def test_an_id_past_64_bits_is_not_a_server_error(secured):
    secured.access.users.add("fuzz-admin", "admin", "a-password-123")
    headers = bearer(secured.access.users.issue_token("fuzz-admin"))
    """Found by fuzzing: an id past 64 bits reached the database, which raised OverflowError (a 500)."""
    huge = "9" * 25
    assert secured.client.get(f"/admin/api/deliveries/{huge}", headers=headers).status_code == 404
    assert secured.client.get("/admin/api/deliveries/\u00b2", headers=headers).status_code == 404
    assert secured.client.get(f"/admin/messages/{huge}", headers=headers).status_code == 404
    assert secured.client.get(f"/admin/api/messages?before={huge}", headers=headers).status_code == 400
    assert secured.client.get(f"/admin/api/audit-events?before={huge}", headers=headers).status_code == 400
    retried = secured.client.post("/admin/api/deliveries/retry", json={"ids": [int(huge)]}, headers=headers)
    assert retried.status_code == 400
