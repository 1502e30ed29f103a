"""The admin console: the overview an operator keeps open and a message's page, built on the same
queries as the admin API; what a role may not do is neither shown nor allowed."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from engine.db.models import Message
from engine.operations.overview import build_overview
from engine.operations.replay import UnreplayableMessage
from engine.store.message_queries import summary
from routes.access_guard import audit, caller, requires
from routes.engine_runtime import current_runtime

console = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                    static_url_path="/static")

#: The console's pages in its navigation: endpoint, label, the permission that shows it.
PAGES = [
    ("console.overview", "Dashboard", "view"),
    ("console_messages.browse", "Messages", "view"),
    ("console_deliveries.parked", "Deliveries", "view"),
    ("console_patients.search", "Patients", "raw"),
    ("console_playground.playground", "Playground", "integrate"),
    ("console_config.configuration", "Configuration", "view"),
    ("console_people.people", "People", "admin"),
]
#: Every console page forbids inline scripts and styles, framing, and forms posting elsewhere.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def console_pages() -> list[tuple[str, str]]:
    """The pages the signed-in user may open and this engine has."""
    who = caller()
    return [(endpoint, label) for endpoint, label, permission in PAGES
            if endpoint in current_app.view_functions and who.may(permission)]


@console.record_once
def _register_globals(state) -> None:
    state.app.jinja_env.globals["console_pages"] = console_pages


@console.after_app_request
def _security_headers(response):
    if request.path == "/admin" or request.path.startswith("/admin/"):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/admin/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
    return response


@console.get("/")
@requires("view")
def overview():
    runtime = current_runtime()
    with runtime.database.read() as session:
        view = build_overview(session, runtime.config, set(runtime.destinations))
    return render_template("console/overview.html", view=view)


@console.get("/messages/<int:message_id>")
@requires("view")
def message(message_id: int):
    may_see_raw = caller().may("raw")
    with current_runtime().database.read() as session:
        found = session.get(Message, message_id)
        if found is None:
            abort(404)
        body = summary(found)
        raw = found.raw.decode("utf-8", errors="replace").replace("\r", "\n") if may_see_raw else None
    if may_see_raw:
        audit("raw", "console", entity_type="Message", entity_id=str(message_id))
    return render_template("console/message.html", message=body, raw=raw)


@console.post("/messages/<int:message_id>/replay")
@requires("replay")
def replay(message_id: int):
    runtime = current_runtime()
    try:
        outcome = runtime.replay.replay(message_id)
        audit("replay", "console", entity_type="Message", entity_id=str(message_id))
        flash(f"Message {message_id} replayed: {outcome.status}" + (f" ({outcome.reason})" if outcome.reason else ""))
    except UnreplayableMessage as exc:
        audit("replay", "console", status=409, entity_type="Message", entity_id=str(message_id))
        flash(str(exc))
    return redirect(url_for("console.overview"))
