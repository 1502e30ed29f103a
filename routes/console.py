"""The admin console: the overview an operator keeps open and a message's page, built on the same
queries as the admin API; what a role may not do is neither shown nor allowed."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from engine.db.models import Message
from engine.operations.overview import build_overview
from engine.operations.replay import UnreplayableMessage
from engine.store.message_queries import summary
from routes.access_guard import audit, caller, requires
from routes.engine_runtime import current_runtime

console = Blueprint("console", __name__, template_folder="templates")


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
