"""``GET /admin/api/openapi.json``: an OpenAPI 3.1 document of every admin API route the app has, read
from its url map (so a route added later is listed at once), with methods, parameters and answers."""

from __future__ import annotations

import json
import re

from flask import Blueprint, jsonify

from support.access import bearer


def document(client) -> dict:
    answer = client.get("/admin/api/openapi.json")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return json.loads(answer.get_data(as_text=True))


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule)


def test_the_document_is_openapi_3_1_with_every_admin_api_route(secured, signed_in):
    found = document(signed_in("viewer"))
    assert found["openapi"] == "3.1.0" and found["info"]["title"]
    app = secured.client.application
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/admin/api/"):
            path = openapi_path(rule.rule)
            assert path in found["paths"], path
            assert {m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}} <= set(found["paths"][path]), path


def test_operations_carry_path_and_query_parameters_permissions_and_answers(secured, signed_in):
    paths = document(signed_in("viewer"))["paths"]
    one = paths["/admin/api/deliveries/{delivery_id}"]["get"]
    assert one["parameters"][0] == {"name": "delivery_id", "in": "path", "required": True,
                                    "schema": {"type": "integer"}}
    assert "404" in one["responses"] and one["x-permission"] == "view"
    listing = paths["/admin/api/deliveries"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"status", "destination", "limit"}
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["count"]
    sync = paths["/admin/api/patients/{patient_id}/sync"]["post"]
    assert sync["x-permission"] == "operate" and "requestBody" in sync
    assert all(op["summary"] for ops in paths.values() for op in ops.values())


def test_a_route_added_later_is_listed_without_a_hand_written_entry(secured, signed_in):
    extra = Blueprint("extra", __name__)

    @extra.get("/widgets/<int:widget_id>")
    def widget(widget_id: int):
        """One widget, for the test."""
        return jsonify(id=widget_id)

    secured.client.application.register_blueprint(extra, url_prefix="/admin/api")
    paths = document(signed_in("admin"))["paths"]
    assert paths["/admin/api/widgets/{widget_id}"]["get"]["summary"] == "One widget, for the test."


def test_the_document_needs_a_user(secured):
    assert secured.client.get("/admin/api/openapi.json").status_code == 401
    token = secured.access.users.issue_token(secured.access.users.add("script", "viewer", "a-password-123").username)
    assert secured.client.get("/admin/api/openapi.json", headers=bearer(token)).status_code == 200
