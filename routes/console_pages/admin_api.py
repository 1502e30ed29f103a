"""The rest of the admin API: what the console's patients, playground, configuration and people
pages do, as JSON, so an operator can script everything the console offers. Each view needs the
permission its console page needs and is audited the same way."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request

from engine.access.clients import UnknownClient
from engine.access.scopes import InvalidScope
from engine.access.users import UserError
from engine.operations.configuration import configuration_view
from engine.operations.cross_references import CrossReferenceError, cross_references, link, unlink
from foundation import decimal_json
from foundation.code_trace import code_trace
from routes.access_guard import audit, caller, requires
from routes.console_pages.patients import _query, _search
from routes.console_pages.playground import MAX_MESSAGE_BYTES, as_segments, hl7_channels, try_mapping
from routes.engine_runtime import current_runtime

log = logging.getLogger(__name__)

admin_more = Blueprint("admin_more", __name__)


def _problem(status: int, code: str, message: str):
    return jsonify(error=code, message=message), status


def _body() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _current_patient(patient_id: str) -> dict[str, Any] | None:
    runtime = current_runtime()
    with runtime.database.read() as session:
        return runtime.repository.current(session, "Patient", patient_id)


@admin_more.get("/patients")
@requires("raw")
def patients():
    """Patients by ``identifier`` (with ``system``), ``family`` or ``given``: patient data, audited."""
    query = _query(request.args)
    if not query:
        return _problem(400, "bad-request", "name identifier, family or given")
    found = _search("Patient", query)
    audit("search", "admin", entity_type="Patient", query=[name for name, _ in query])
    return jsonify(items=found, count=len(found))


@admin_more.get("/patients/<patient_id>")
@requires("raw")
def patient(patient_id: str):
    """One patient and their ids at each destination."""
    found = _current_patient(patient_id)
    if found is None:
        audit("read", "admin", status=404, entity_type="Patient", entity_id=patient_id)
        return _problem(404, "not-found", "no current patient has that id")
    audit("read", "admin", entity_type="Patient", entity_id=patient_id)
    return jsonify(patient=found,
                   crossReferences=cross_references(current_runtime().database, "Patient", patient_id))


@admin_more.post("/patients/<patient_id>/cross-references")
@requires("operate")
def link_patient(patient_id: str):
    """Link the patient to a record of theirs at a destination: ``{"destination": ..., "remoteId": ...}``."""
    body = _body()
    destination, remote_id = (_text(body, "destination"), _text(body, "remoteId")) if body else (None, None)
    if destination not in {d.name for d in current_runtime().config.destinations} or remote_id is None:
        return _problem(400, "bad-request", "name a configured destination and the remoteId there")
    if _current_patient(patient_id) is None:
        return _problem(404, "not-found", "no current patient has that id")
    try:
        link(current_runtime().database, destination, "Patient", patient_id, remote_id)
    except CrossReferenceError as exc:
        return _problem(400, "bad-request", str(exc))
    audit("link", "admin", entity_type="Patient", entity_id=patient_id, detail=f"destination {destination}")
    return jsonify(linked=True)


@admin_more.delete("/patients/<patient_id>/cross-references/<destination>")
@requires("operate")
def unlink_patient(patient_id: str, destination: str):
    """Forget the patient's record at a destination (the next delivery matches or creates one again)."""
    removed = unlink(current_runtime().database, destination, "Patient", patient_id)
    audit("unlink", "admin", status=200 if removed else 404, entity_type="Patient", entity_id=patient_id)
    return jsonify(unlinked=True) if removed else _problem(404, "not-found", "no such cross-reference")


@admin_more.post("/playground")
@requires("integrate")
def playground():
    """Map ``{"message": "MSH|...", "channel": "mllp"}`` with the mapping in force, storing nothing."""
    body = _body()
    message, channel = (_text(body, "message"), _text(body, "channel") or "mllp") if body else (None, None)
    if message is None or channel not in hl7_channels():
        return _problem(400, "bad-request", f"send a message and one of the channels {', '.join(hl7_channels())}")
    raw = message.encode("utf-8")
    if len(raw) > MAX_MESSAGE_BYTES:
        return _problem(413, "too-large", f"the playground maps messages of up to {MAX_MESSAGE_BYTES} bytes")
    try:
        tried = try_mapping(as_segments(raw), channel)
    except Exception as exc:  # noqa: BLE001 - an integrator's odd paste is answered, never a 500
        log.warning("playground could not map a message%s", code_trace(exc))
        return _problem(422, "unmappable", "the mapper could not read this message")
    audit("playground", "admin")
    return jsonify(bundle=decimal_json.loads(tried.bundle) if tried.bundle else None, error=tried.error,
                   notes=tried.notes, problems=[{"resource": label, "problems": found}
                                                for label, found in tried.problems])


@admin_more.get("/configuration")
@requires("view")
def configuration():
    """The channels, destinations and routes in force (secrets masked) and the config check's result."""
    runtime = current_runtime()
    view = configuration_view(runtime.config, runtime.router.routes, set(runtime.destinations),
                              runtime.settings.config_path, runtime.settings.environ)
    return jsonify(channels=view.channels, destinations=view.destinations, routes=view.routes,
                   files=[{"what": what, "path": path, "changed": changed.isoformat() if changed else None}
                          for what, path, changed in view.files], check=view.check)


@admin_more.get("/users")
@requires("admin")
def users():
    return jsonify(items=current_runtime().access.users.list())


@admin_more.post("/users")
@requires("admin")
def add_user():
    """Add a user: ``{"username": ..., "role": ..., "password": ...}``."""
    body = _body() or {}
    username, role, password = _text(body, "username"), _text(body, "role"), body.get("password")
    if not (username and role and isinstance(password, str)):
        return _problem(400, "bad-request", "send username, role and password")
    try:
        person = current_runtime().access.users.add(username, role, password)
    except UserError as exc:
        return _problem(400, "bad-request", str(exc))
    audit("user-add", "admin", entity_type="User", entity_id=username, detail=f"role {role}")
    return jsonify(username=person.username, role=person.role), 201


@admin_more.post("/users/<username>/disable")
@requires("admin")
def disable_user(username: str):
    if caller().person is not None and caller().person.username == username:
        return _problem(409, "conflict", "an admin may not disable their own account")
    try:
        current_runtime().access.users.disable(username)
    except UserError as exc:
        return _problem(404, "not-found", str(exc))
    audit("user-disable", "admin", entity_type="User", entity_id=username)
    return jsonify(username=username, disabled=True)


@admin_more.post("/users/<username>/password")
@requires("admin")
def reset_password(username: str):
    """Set a user's password: ``{"password": ...}``; their sessions end."""
    password = (_body() or {}).get("password")
    if not isinstance(password, str):
        return _problem(400, "bad-request", "send the new password")
    try:
        current_runtime().access.users.set_password(username, password)
    except UserError as exc:
        return _problem(400, "bad-request", str(exc))
    audit("password-reset", "admin", entity_type="User", entity_id=username)
    return jsonify(username=username, reset=True)


@admin_more.get("/clients")
@requires("admin")
def clients():
    return jsonify(items=[c.as_dict() for c in current_runtime().access.clients.list()])


@admin_more.post("/clients")
@requires("admin")
def add_client():
    """Register an API client: ``{"name": ..., "scope": "system/Patient.rs ..."}``; the secret is in this
    answer only."""
    body = _body() or {}
    name, scope = _text(body, "name"), _text(body, "scope")
    if not (name and scope) or len(name) > 128:
        return _problem(400, "bad-request", "send a name (up to 128 characters) and a scope")
    try:
        added = current_runtime().access.clients.add(name, scope)
    except (InvalidScope, ValueError) as exc:
        return _problem(400, "bad-request", str(exc))
    audit("client-add", "admin", entity_type="Client", entity_id=added["client_id"])
    return jsonify(added), 201


@admin_more.post("/clients/<client>/revoke")
@requires("admin")
def revoke_client(client: str):
    try:
        revoked = current_runtime().access.clients.revoke(client)
    except UnknownClient as exc:
        return _problem(404, "not-found", str(exc))
    audit("client-revoke", "admin", entity_type="Client", entity_id=revoked.client_id)
    return jsonify(revoked.as_dict())
