"""The console's people page, for admins: users (add, disable, set a new password), API clients (add,
with the secret shown on the answer only; revoke), and the audit trail searched by who, what and when.
Every action is a POST with the session's CSRF token and is audited.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from flask import Blueprint, Response, flash, make_response, redirect, render_template, request, url_for

from engine.access.audit import ACTIONS
from engine.access.clients import UnknownClient
from engine.access.scopes import InvalidScope
from engine.access.users import ROLES, UserError
from routes.access_guard import audit, caller, requires
from routes.engine_runtime import current_runtime

console_people = Blueprint("console_people", __name__)

#: Audit records one search lists.
AUDIT_PAGE = 100
#: Records read to find a page of one subtype (the trail is filtered by subtype after reading).
AUDIT_SCAN = 2000
#: Subtypes the audit filter offers: the trail's own and the console's people and patient actions.
AUDIT_SUBTYPES = sorted(set(ACTIONS) | {"access", "csrf", "cancel", "link", "unlink", "search", "user-add",
                                        "user-disable", "password-reset", "client-add", "client-revoke"})


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _audit_search(args) -> tuple[dict[str, str], list, str | None]:
    """The audit filter named by the query string, the records it finds, and what is wrong with it."""
    wanted = {key: (args.get(key) or "").strip() for key in ("agent", "subtype", "since", "until")}
    since, until = _day(wanted["since"]), _day(wanted["until"])
    if (wanted["since"] and since is None) or (wanted["until"] and until is None):
        return wanted, [], "Dates are written YYYY-MM-DD."
    criteria = {"agent": wanted["agent"] or None,
                "since": datetime.combine(since, time(), timezone.utc) if since else None,
                "until": datetime.combine(until + timedelta(days=1), time(), timezone.utc) if until else None}
    audit_log = current_runtime().access.audit
    if not wanted["subtype"]:
        return wanted, audit_log.find(limit=AUDIT_PAGE, **criteria), None
    rows = [r for r in audit_log.find(limit=AUDIT_SCAN, **criteria) if r.subtype == wanted["subtype"]]
    return wanted, rows[:AUDIT_PAGE], None


def _page(status: int = 200, new_client: dict | None = None) -> Response:
    access = current_runtime().access
    wanted, records, problem = _audit_search(request.args)
    return make_response(render_template(
        "console/people.html", users=access.users.list(), clients=access.clients.list(), roles=list(ROLES),
        new_client=new_client, audit_filter=wanted, records=records, audit_problem=problem,
        subtypes=AUDIT_SUBTYPES, audit_page=AUDIT_PAGE, me=caller().agent.name), status)


def _back() -> Response:
    return redirect(url_for(".people"))


@console_people.get("", strict_slashes=False)
@requires("admin")
def people():
    return _page()


@console_people.post("/users")
@requires("admin")
def add_user():
    username, role = request.form.get("username", "").strip(), request.form.get("role", "")
    try:
        current_runtime().access.users.add(username, role, request.form.get("password", ""))
    except UserError as exc:
        audit("user-add", "console", status=400, entity_type="User", entity_id=username or None)
        flash(f"User not added: {exc}.")
        return _back()
    audit("user-add", "console", entity_type="User", entity_id=username, detail=f"role {role}")
    flash(f"User {username} added as {role}: give them the password by a channel of its own.")
    return _back()


@console_people.post("/users/<username>/disable")
@requires("admin")
def disable_user(username: str):
    if username == caller().agent.name:
        flash("You cannot disable yourself: ask another admin.")
        return _back()
    try:
        current_runtime().access.users.disable(username)
    except UserError as exc:
        audit("user-disable", "console", status=404, entity_type="User", entity_id=username)
        flash(f"Not disabled: {exc}.")
        return _back()
    audit("user-disable", "console", entity_type="User", entity_id=username)
    flash(f"User {username} disabled: their sessions and personal tokens no longer work.")
    return _back()


@console_people.post("/users/<username>/password")
@requires("admin")
def reset_password(username: str):
    try:
        current_runtime().access.users.set_password(username, request.form.get("password", ""))
    except UserError as exc:
        audit("password-reset", "console", status=400, entity_type="User", entity_id=username)
        flash(f"Password not set: {exc}.")
        return _back()
    audit("password-reset", "console", entity_type="User", entity_id=username)
    flash(f"New password set for {username}; their sessions are ended.")
    return _back()


@console_people.post("/clients")
@requires("admin")
def add_client():
    name, scopes = request.form.get("name", "").strip(), request.form.get("scopes", "").strip()
    if not name or len(name) > 128 or not scopes:
        audit("client-add", "console", status=400, entity_type="Client", entity_id=name[:128] or None)
        flash("Client not added: name it (at most 128 characters) and give it scopes.")
        return _back()
    try:
        added = current_runtime().access.clients.add(name, scopes)
    except InvalidScope as exc:
        audit("client-add", "console", status=400, entity_type="Client", entity_id=name)
        flash(f"Client not added: {exc}.")
        return _back()
    audit("client-add", "console", entity_type="Client", entity_id=name, detail=f"client id {added['client_id']}")
    return _page(201, new_client=added)


@console_people.post("/clients/<client_id>/revoke")
@requires("admin")
def revoke_client(client_id: str):
    try:
        revoked = current_runtime().access.clients.revoke(client_id)
    except UnknownClient as exc:
        audit("client-revoke", "console", status=404, entity_type="Client", entity_id=client_id)
        flash(f"Not revoked: {exc}.")
        return _back()
    audit("client-revoke", "console", entity_type="Client", entity_id=revoked.name,
          detail=f"client id {revoked.client_id}")
    flash(f"Client {revoked.name} revoked: its tokens are refused from now on.")
    return _back()
