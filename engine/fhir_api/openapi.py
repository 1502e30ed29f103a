"""The FHIR API described as an OpenAPI 3.1 document, derived from the CapabilityStatement: each
resource type's interactions as operations, its search parameters as query parameters. It states
no more than the CapabilityStatement does, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

from engine.fhir_api.capabilities import capability_statement

#: Search result parameters every search-type takes besides the type's own search parameters.
RESULT_PARAMETERS = ("_count", "_sort", "_total", "_summary", "_elements", "_include", "_revinclude")
#: FHIR search parameter types and the JSON Schema of a value (all are strings on the wire).
_STRING = {"type": "string"}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9.-]{1,64}$"}}
_VID = {"name": "vid", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}
_JSON_PATCH = {"type": "array", "items": {"type": "object", "required": ["op", "path"],
                                          "properties": {"op": _STRING, "path": _STRING, "from": _STRING}}}


def resource_schema(resource_type: str) -> dict[str, Any]:
    """A loose schema of a resource: its ``resourceType`` and anything else (the server validates)."""
    return {"type": "object", "required": ["resourceType"],
            "properties": {"resourceType": {"const": resource_type}, "id": _STRING,
                           "meta": {"type": "object"}}, "additionalProperties": True}


def _answers() -> dict[str, Any]:
    return {"default": {"description": "a resource, a Bundle or an OperationOutcome",
                        "content": {"application/fhir+json": {"schema": {"type": "object"}}}}}


def _body(schema: dict[str, Any], media_type: str = "application/fhir+json") -> dict[str, Any]:
    return {"required": True, "content": {media_type: {"schema": schema}}}


def _operations(entry: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{path: {method: operation}}`` for one ``rest.resource`` entry of the CapabilityStatement."""
    kind = entry["type"]
    codes = {i["code"] for i in entry.get("interaction", [])}
    search = [{"name": p["name"], "in": "query", "required": False, "schema": _STRING,
               "x-fhir-type": p["type"]} for p in entry.get("searchParam", [])]
    search += [{"name": name, "in": "query", "required": False, "schema": _STRING} for name in RESULT_PARAMETERS]
    table: list[tuple[str, str, str, list[dict[str, Any]], dict[str, Any] | None]] = [
        ("read", f"/{kind}/{{id}}", "get", [_ID], None),
        ("vread", f"/{kind}/{{id}}/_history/{{vid}}", "get", [_ID, _VID], None),
        ("search-type", f"/{kind}", "get", search, None),
        ("create", f"/{kind}", "post", [], _body(resource_schema(kind))),
        ("update", f"/{kind}/{{id}}", "put", [_ID], _body(resource_schema(kind))),
        ("patch", f"/{kind}/{{id}}", "patch", [_ID], _body(_JSON_PATCH, "application/json-patch+json")),
        ("delete", f"/{kind}/{{id}}", "delete", [_ID], None),
        ("history-instance", f"/{kind}/{{id}}/_history", "get", [_ID], None),
        ("history-type", f"/{kind}/_history", "get", [], None),
    ]
    paths: dict[str, dict[str, dict[str, Any]]] = {}
    for code, path, method, parameters, body in table:
        if code not in codes:
            continue
        operation: dict[str, Any] = {"operationId": f"{kind}.{code}", "summary": f"{code} {kind}",
                                     "tags": [kind], "x-fhir-interaction": code, "parameters": parameters,
                                     "responses": _answers()}
        if body is not None:
            operation["requestBody"] = body
        paths.setdefault(path, {})[method] = operation
    return paths


def fhir_openapi_document(base_url: str, software_version: str, date: str = "2026-01-01") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the FHIR API at ``base_url`` (``https://h/fhir``)."""
    statement = capability_statement(base_url, software_version, date)
    paths: dict[str, dict[str, Any]] = {}
    rest = statement["rest"][0]
    for entry in rest["resource"]:
        for path, methods in _operations(entry).items():
            paths.setdefault(path, {}).update(methods)
    codes = sorted(i["code"] for i in rest.get("interaction", []) if i["code"] in ("batch", "transaction"))
    if codes:
        paths["/"] = {"post": {"operationId": "system." + "-".join(codes), "summary": f"{' or '.join(codes)} Bundle",
                               "tags": ["Bundle"], "x-fhir-interaction": codes, "parameters": [],
                               "requestBody": _body(resource_schema("Bundle")), "responses": _answers()}}
    return {"openapi": "3.1.0",
            "info": {"title": "Carebridge FHIR R4 API", "version": software_version,
                     "description": "Derived from the CapabilityStatement (GET /fhir/metadata)."},
            "servers": [{"url": base_url}], "paths": paths}
