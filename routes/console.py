"""The admin console: one page an operator keeps open, built on the same queries as the admin API."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from engine.operations.overview import build_overview
from engine.operations.replay import UnreplayableMessage
from routes.admin_auth import require_admin_token
from routes.engine_runtime import current_runtime

console = Blueprint("console", __name__, template_folder="templates")
require_admin_token(console)


@console.get("/")
def overview():
    runtime = current_runtime()
    with runtime.database.read() as session:
        view = build_overview(session, runtime.config, set(runtime.destinations))
    return render_template("console/overview.html", view=view)


@console.post("/messages/<int:message_id>/replay")
def replay(message_id: int):
    runtime = current_runtime()
    try:
        outcome = runtime.replay.replay(message_id)
        flash(f"Message {message_id} replayed: {outcome.status}" + (f" ({outcome.reason})" if outcome.reason else ""))
    except UnreplayableMessage as exc:
        flash(str(exc))
    return redirect(url_for("console.overview"))
