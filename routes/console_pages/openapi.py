"""``GET /admin/api/openapi.json``: the admin API as an OpenAPI 3.1 document, its paths read from the
app's url map on every request so that a route added anywhere is listed at once."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from engine.fhir_api.interactions import SOFTWARE_VERSION
from engine.operations.openapi import ApiRoute, openapi_document
from routes.access_guard import requires

openapi = Blueprint("openapi", __name__)

#: Where the admin API's routes start.
API_PREFIX = "/admin/api/"


def api_routes() -> list[ApiRoute]:
    """Every route of the app under the admin API, with the permission its view needs."""
    found = []
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX):
            continue
        view = current_app.view_functions.get(rule.endpoint)
        found.append(ApiRoute(rule.rule, tuple(sorted(rule.methods or ())), rule.endpoint,
                              getattr(view, "required_permission", "admin"), getattr(view, "__doc__", None)))
    return found


@openapi.get("/openapi.json")
@requires("view")
def document():
    """This document."""
    return jsonify(openapi_document(api_routes(), request.host_url.rstrip("/"), SOFTWARE_VERSION))
