"""The console's replay preview (``/admin/replay/<id>``): what replaying a stored message with the
mapping in force now would change in each resource it writes, field by field, and a confirmed
Replay. The values before and after are patient data: shown only to roles with ``raw`` (audited)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from engine.operations.replay import UnreplayableMessage
from engine.operations.replay_preview import ADDED, CHANGED, REMOVED, ReplayPreview, preview_replay
from routes.access_guard import audit, caller, requires
from routes.engine_runtime import current_runtime

console_replay = Blueprint("console_replay", __name__, url_prefix="/admin/replay")

#: Where the message's own page is when the message browser is not registered.
MESSAGE_PATH = "/admin/messages/{}"


def current_preview(message_id: int) -> ReplayPreview:
    """The preview with the mapping as edited now (a config changed since the last check is reloaded)."""
    runtime = current_runtime()
    reload = getattr(runtime.mapper, "reload_if_changed", None)
    if reload is not None:
        reload()
    return preview_replay(runtime.database, runtime.repository, runtime.mapper, message_id,
                          runtime.pipeline.channel_charsets)


def _message_url(message_id: int) -> str:
    if "console_messages.detail" in current_app.view_functions:
        return url_for("console_messages.detail", message_id=message_id)
    return MESSAGE_PATH.format(message_id)


@console_replay.get("/<int:message_id>")
@requires("replay")
def preview(message_id: int):
    try:
        found = current_preview(message_id)
    except UnreplayableMessage as exc:
        if str(exc).startswith("no message"):
            abort(404)
        return render_template("console/replay_preview.html", message_id=message_id, preview=None,
                               refusal=str(exc), message_url=_message_url(message_id)), 409
    with_values = caller().may("raw")
    if with_values:
        audit("raw", "console", entity_type="Message", entity_id=str(message_id))
    return render_template("console/replay_preview.html", message_id=message_id, preview=found, refusal=None,
                           with_values=with_values, kinds=(ADDED, REMOVED, CHANGED),
                           message_url=_message_url(message_id))


@console_replay.post("/<int:message_id>")
@requires("replay")
def replay(message_id: int):
    if request.form.get("confirm") != "yes":
        flash(f"Message {message_id} was not replayed: confirm the replay on this page")
        return redirect(url_for(".preview", message_id=message_id))
    try:
        outcome = current_runtime().replay.replay(message_id)
    except UnreplayableMessage as exc:
        audit("replay", "console", status=409, entity_type="Message", entity_id=str(message_id))
        flash(str(exc))
        return redirect(_message_url(message_id))
    audit("replay", "console", entity_type="Message", entity_id=str(message_id))
    flash(f"Message {message_id} replayed: {outcome.status}" + (f" ({outcome.reason})" if outcome.reason else ""))
    return redirect(_message_url(message_id))
