"""The admin API described as an OpenAPI 3.1 document. The paths come from the routes the app has
(so the document never drifts from the code); the words, parameters and answer shapes per endpoint
are written here, and an endpoint without them is still listed, with its docstring's first line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: The OpenAPI version the document follows.
OPENAPI_VERSION = "3.1.0"
#: Methods every route answers that say nothing about it.
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
#: Flask converters and the JSON Schema type of what they take.
CONVERTER_TYPES = {"int": "integer", "float": "number", "string": "string", "path": "string", "uuid": "string",
                   "default": "string"}
_RULE_PART = re.compile(r"<(?:(?P<converter>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


@dataclass(frozen=True)
class ApiRoute:
    """One route of the app under the admin API, as the url map has it."""

    rule: str
    methods: tuple[str, ...]
    endpoint: str
    permission: str = "admin"
    doc: str | None = None


@dataclass(frozen=True)
class Described:
    """What the document says of one endpoint beyond its path and methods."""

    summary: str
    query: tuple[tuple[str, str, str], ...] = ()  # (name, JSON Schema type, description)
    body: dict[str, Any] | None = None
    responses: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)


def _obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _list(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


_INT, _STR, _BOOL, _ANY = {"type": "integer"}, {"type": "string"}, {"type": "boolean"}, {"type": "object"}
_NULLABLE_STR = {"type": ["string", "null"]}
ERROR = _obj(error=_STR, detail=_STR, message=_STR)
DELIVERY = _obj(id=_INT, destination=_STR, resource=_STR, status=_STR, attempts=_INT, reason=_NULLABLE_STR)
SYNC_ROW = _obj(id=_INT, time=_STR, patient=_NULLABLE_STR, resource=_STR, destination=_STR, delivery=_INT,
                attempt={"type": ["integer", "null"]}, action=_STR, status=_STR, details=_NULLABLE_STR)
AUDIT_ROW = _obj(id=_INT, recorded=_STR, agent=_STR, agentKind=_STR, action=_STR, subtype=_STR, surface=_STR,
                 entityType=_NULLABLE_STR, entityId=_NULLABLE_STR, parameters=_list(_STR), outcome=_STR)
MESSAGE = _obj(id=_INT, channel=_STR, messageType=_STR, controlId=_STR, status=_STR, receivedAt=_STR)
REPLAY = _obj(messageId=_INT, outcome=_STR, reason=_NULLABLE_STR, resources=_list(_STR))
_LIMIT = ("limit", "integer", "most rows to return")

#: What the document says of each endpoint of the admin API, by Flask endpoint.
DESCRIPTIONS: dict[str, Described] = {
    "admin.deliveries": Described(
        "List deliveries (parked ones by default)",
        (("status", "string", "a delivery status, or all (default: failed, the parked ones)"),
         ("destination", "string", "only this destination"), _LIMIT),
        responses={200: ("the deliveries", _obj(deliveries=_list(DELIVERY), count=_INT))}),
    "admin.delivery": Described("One delivery", responses={200: ("the delivery", DELIVERY),
                                                           404: ("no such delivery", ERROR)}),
    "admin.retry_one": Described("Retry one parked delivery", responses={
        202: ("queued again", _obj(retried=_list(_INT))), 404: ("no such delivery", ERROR),
        409: ("the delivery is not parked", ERROR)}),
    "admin.retry_bulk": Described(
        "Retry parked deliveries by id and/or destination (no body: every parked delivery)",
        body=_obj(ids=_list(_INT), destination=_STR),
        responses={202: ("queued again", _obj(retried=_list(_INT), count=_INT)), 400: ("bad ids", ERROR)}),
    "admin.cancel_bulk": Described(
        "Cancel parked deliveries, with a reason: they are never sent",
        body={**_obj(ids=_list(_INT), reason=_STR), "required": ["ids", "reason"]},
        responses={200: ("cancelled", _obj(cancelled=_list(_INT), count=_INT)), 400: ("bad ids or reason", ERROR)}),
    "admin.overview": Described("The dashboard's figures per channel and destination",
                                responses={200: ("the overview", _ANY)}),
    "admin.sync_patient": Described(
        "Resync a patient with their appointments, documents and invoices",
        (("destination", "string", "only this destination (also accepted in the body)"),),
        body=_obj(destination=_STR),
        responses={202: ("deliveries planned", _obj(patient=_STR, deliveries=_list(_INT))),
                   400: ("ambiguous patient or unknown destination", ERROR), 404: ("no such patient", ERROR)}),
    "admin.sync_log": Described(
        "A patient's sync log, newest first", (("destination", "string", "only this destination"), _LIMIT),
        responses={200: ("the rows", _obj(patient=_STR, entries=_list(SYNC_ROW), count=_INT)),
                   404: ("no such patient", ERROR)}),
    "admin.audit_events": Described(
        "The audit trail, newest first",
        (("agent", "string", "client id or user name"), ("entityType", "string", "resource type"),
         ("entityId", "string", "resource id"), ("action", "string", "C, R, U, D or E"),
         ("outcome", "string", "0, 4 or 8"), ("before", "integer", "records older than this id"), _LIMIT),
        responses={200: ("the records", _obj(items=_list(AUDIT_ROW), count=_INT)), 400: ("bad before", ERROR)}),
    "messages.list_messages": Described(
        "Find inbound messages",
        (("status", "string", "message status"), ("type", "string", "message type, e.g. ADT^A08"),
         ("channel", "string", "channel name"), ("controlId", "string", "MSH-10"),
         ("since", "string", "ISO 8601 instant"), ("before", "integer", "messages older than this id"), _LIMIT),
        responses={200: ("a page of messages", _obj(items=_list(MESSAGE), counts=_ANY, next=_INT)),
                   400: ("a bad filter", ERROR), 403: ("a text search without the raw permission", ERROR)}),
    "messages.export_messages": Described(
        "The messages a filter finds, as CSV", (("status", "string", "message status"), _LIMIT),
        responses={200: ("CSV, one message a line", {"type": "string", "contentMediaType": "text/csv"})}),
    "messages.show_message": Described(
        "One message and what became of it", (("raw", "boolean", "include the message as received (raw)"),),
        responses={200: ("the message", MESSAGE), 403: ("raw without the raw permission", ERROR),
                   404: ("no such message", ERROR)}),
    "messages.replay_message": Described("Replay one message", responses={
        200: ("the replay's outcome", REPLAY), 409: ("the message cannot be replayed", ERROR)}),
    "messages.replay_messages": Described(
        "Replay the messages a filter finds", body=_obj(status=_STR, type=_STR, channel=_STR),
        responses={200: ("the outcomes", _obj(replayed=_INT, items=_list(REPLAY))),
                   400: ("no filter named", ERROR)}),
    "openapi.document": Described("This document", responses={200: ("an OpenAPI 3.1 document", _ANY)}),
}


def path_template(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """``/deliveries/<int:delivery_id>`` -> ``/deliveries/{delivery_id}`` and its path parameters."""
    parameters = [{"name": m.group("name"), "in": "path", "required": True,
                   "schema": {"type": CONVERTER_TYPES.get(m.group("converter") or "default", "string")}}
                  for m in _RULE_PART.finditer(rule)]
    return _RULE_PART.sub(lambda m: "{" + m.group("name") + "}", rule), parameters


def _operation(route: ApiRoute, method: str, path_parameters: list[dict[str, Any]]) -> dict[str, Any]:
    described = DESCRIPTIONS.get(route.endpoint)
    first_line = (route.doc or "").strip().splitlines()[0] if (route.doc or "").strip() else route.endpoint
    summary = described.summary if described else first_line
    query = described.query if described else ()
    parameters = path_parameters + [{"name": name, "in": "query", "required": False, "schema": {"type": kind},
                                     "description": text} for name, kind, text in query]
    responses = {str(status): {"description": text, "content": {"application/json": {"schema": schema}}}
                 for status, (text, schema) in (described.responses if described else {}).items()}
    if not responses:
        responses = {"200": {"description": "the answer", "content": {"application/json": {"schema": _ANY}}}}
    responses.setdefault("401", {"description": "not signed in, or no valid personal access token"})
    responses.setdefault("403", {"description": f"the user's role lacks the permission {route.permission}"})
    operation: dict[str, Any] = {
        "operationId": f"{route.endpoint}.{method.lower()}" if len(route.methods) > 1 else route.endpoint,
        "summary": summary, "description": f"Needs the permission `{route.permission}`.",
        "x-permission": route.permission, "parameters": parameters, "responses": responses,
        "tags": [route.endpoint.split(".")[0]]}
    if described and described.body is not None and method in ("POST", "PUT", "PATCH"):
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": described.body}}}
    return operation


def openapi_document(routes: list[ApiRoute], server_url: str, version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``: every method of every route, by path."""
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(routes, key=lambda r: r.rule):
        template, path_parameters = path_template(route.rule)
        for method in sorted(set(route.methods) - IMPLICIT_METHODS):
            paths.setdefault(template, {})[method.lower()] = _operation(route, method, path_parameters)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Carebridge admin API", "version": version,
                 "description": "Deliveries, retries, manual resync, the sync log, messages and the audit trail. "
                                "Answers carry ids, statuses and reasons, never patient data."},
        "servers": [{"url": server_url}],
        "components": {"securitySchemes": {
            "personalToken": {"type": "http", "scheme": "bearer",
                              "description": "a personal access token (carebridge users token NAME)"},
            "consoleSession": {"type": "apiKey", "in": "cookie", "name": "carebridge_session",
                               "description": "a console session; state-changing requests send X-CSRF-Token"}}},
        "security": [{"personalToken": []}, {"consoleSession": []}],
        "paths": paths,
    }
