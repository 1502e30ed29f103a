"""The contract's endpoints under ``/v1``: ping, clients, team members, appointments,
notes, files and invoices. Auth, rate limits and faults are applied by the app around them.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Response, current_app, json, request

from .problems import Problem
from .resources import FILES, KINDS
from .simulation import Simulation

#: Largest file a client may upload (25 MiB); larger ones get 413.
MAX_FILE_BYTES = 25 * 1024 * 1024

#: Kinds at the top of the API, as opposed to those nested under a client.
TOP_LEVEL_KINDS = ("clients", "team-members", "appointments", "invoices")

blueprint = Blueprint("api", __name__)


def simulation() -> Simulation:
    return current_app.extensions["carepatron_simulator"]


@blueprint.get("/ping")
def ping() -> dict[str, str]:
    return {"status": "ok"}


@blueprint.get("/providers/<provider_id>/secure-ping")
def secure_ping(provider_id: str) -> dict[str, str]:
    return {"status": "ok", "providerId": provider_id}


def create(kind: str, client_id: str | None = None) -> Response:
    body = _json_body()
    return _idempotent(lambda: simulation().store.create(KINDS[kind], body, parent_id=client_id))


def replace(kind: str, record_id: str, client_id: str | None = None) -> Response:
    record = simulation().store.replace(KINDS[kind], record_id, _json_body(), parent_id=client_id)
    return _json(record, 200)


def get_record(kind: str, record_id: str, client_id: str | None = None) -> Response:
    return _json(simulation().store.get(KINDS[kind], record_id, parent_id=client_id), 200)


def list_records(kind: str, client_id: str | None = None) -> Response:
    query = request.args.to_dict()
    return _json(simulation().store.list(KINDS[kind], query, parent_id=client_id), 200)


def create_file(kind: str, client_id: str) -> Response:
    if request.mimetype != "multipart/form-data":
        raise Problem(415, "unsupported-media-type", "Files are sent as multipart/form-data.")
    upload = request.files.get("file")
    content = upload.stream.read(MAX_FILE_BYTES + 1) if upload else b""
    if len(content) > MAX_FILE_BYTES:
        raise Problem(413, "file-too-large", f"A file may hold at most {MAX_FILE_BYTES} bytes.")
    body: dict[str, Any] = request.form.to_dict()
    errors = {
        name: ["is not a part of this contract"] for name in request.files if name != "file"
    }
    if upload is None:
        errors["file"] = ["is required"]
    if errors:
        raise Problem(422, "validation-failed", "The form breaks the contract.", errors=errors)
    extra = {"fileName": upload.filename, "contentType": upload.mimetype, "size": len(content)}
    return _idempotent(
        lambda: simulation().store.create(
            FILES, body, parent_id=client_id, content=content, extra=extra
        )
    )


def _register_routes() -> None:
    for kind in TOP_LEVEL_KINDS:
        _route(f"/{kind}", f"{kind}_create", create, "POST", kind)
        _route(f"/{kind}", f"{kind}_list", list_records, "GET", kind)
        _route(f"/{kind}/<record_id>", f"{kind}_get", get_record, "GET", kind)
        _route(f"/{kind}/<record_id>", f"{kind}_replace", replace, "PUT", kind)
    _route("/clients/<client_id>/notes", "notes_create", create, "POST", "notes")
    _route("/clients/<client_id>/notes", "notes_list", list_records, "GET", "notes")
    _route("/clients/<client_id>/notes/<record_id>", "notes_get", get_record, "GET", "notes")
    _route("/clients/<client_id>/notes/<record_id>", "notes_replace", replace, "PUT", "notes")
    _route("/clients/<client_id>/files", "files_create", create_file, "POST", "files")
    _route("/clients/<client_id>/files", "files_list", list_records, "GET", "files")
    _route("/clients/<client_id>/files/<record_id>", "files_get", get_record, "GET", "files")


def _route(rule: str, endpoint: str, view: Callable[..., Response], method: str, kind: str) -> None:
    # The kind travels in the view arguments so that faults can match on it.
    blueprint.add_url_rule(rule, endpoint, view, methods=[method], defaults={"kind": kind})


_register_routes()


def _json_body() -> Any:
    if not request.is_json:
        raise Problem(415, "unsupported-media-type", "The body must be application/json.")
    body = request.get_json(silent=True)
    if body is None:
        raise Problem(400, "malformed-json", "The body is not valid JSON.")
    return body


def _json(document: Any, status: int) -> Response:
    return Response(json.dumps(document), status=status, mimetype="application/json")


def _idempotent(make: Callable[[], dict[str, Any]]) -> Response:
    """Create a record, replaying the first answer when the Idempotency-Key was seen."""
    key = request.headers.get("Idempotency-Key")
    if not key:
        return _json(make(), 201)
    cache = simulation().idempotency
    scope = (request.headers.get("cp-api-key", ""), request.method, request.path, key)
    answer = cache.begin(scope)
    if answer is not None:
        return Response(
            answer.body, status=answer.status, mimetype=answer.mimetype,
            headers={"Idempotent-Replayed": "true"},
        )
    response = Response(status=500)
    try:
        response = _json(make(), 201)
    except Problem as problem:
        response = problem.response()
    finally:
        cache.finish(scope, response.status_code, response.get_data(), response.mimetype)
    return response
