"""The console's message browser: find a message by channel, status, type, control id, facility,
patient identifier, time or (for roles that may see raw messages) its text; export the page as CSV;
open a message to see its fields by name, its ACK, the resources it wrote and their deliveries, and
act on it (replay, retry a delivery, resync the patient) as the role allows.

Every list is a GET URL to share; the raw message and a search of its text need ``raw`` and are
audited, and an export is audited with the filters' names (never their values).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from engine.db.models import MessageStatus
from engine.operations.dead_letters import get_delivery, retry
from engine.operations.message_detail import message_detail
from engine.operations.patient_lookup import AmbiguousPatient, PatientNotFound
from engine.operations.replay import UnreplayableMessage
from engine.operations.resync import UnknownDestination, resync_patient
from engine.routing.outbox import announce
from engine.store.message_queries import (
    MessageFilter,
    filter_from_params,
    filters_used,
    find_messages,
    summaries_csv,
    summary,
)
from routes.access_guard import audit, caller, requires
from routes.engine_runtime import current_runtime

console_messages = Blueprint("console_messages", __name__, url_prefix="/admin/messages",
                             template_folder="templates")

#: Messages one page of the browser lists.
PAGE_SIZE = 50
#: The statuses a message can have, for the status filter.
STATUSES = (MessageStatus.RECEIVED, MessageStatus.MAPPED, MessageStatus.UNSUPPORTED, MessageStatus.ERROR,
            MessageStatus.REFUSED)


def _criteria() -> MessageFilter | Response:
    """The filter the query string names, or the answer refusing it (a bad value, a text search
    the role may not make)."""
    try:
        criteria = filter_from_params(request.args, PAGE_SIZE)
    except ValueError as exc:
        return Response(f"{exc}\n", status=400, mimetype="text/plain")
    if criteria.text is not None:
        allowed = caller().may("raw")
        audit("raw", "console", status=200 if allowed else 403, entity_type="Message", query=filters_used(criteria))
        if not allowed:
            return Response(f"Your role ({caller().person.role}) may not search the text of raw messages, which "
                            f"hold patient data.\n", status=403, mimetype="text/plain")
    return criteria


def _page(criteria: MessageFilter) -> list[dict]:
    with current_runtime().database.read() as session:
        return [summary(m) for m in find_messages(session, criteria)]


@console_messages.get("")
@requires("view")
def browse():
    criteria = _criteria()
    if isinstance(criteria, Response):
        return criteria
    rows = _page(criteria)
    shown = {k: v for k, v in request.args.items() if v.strip() and k != "before"}
    older = url_for(".browse", **shown, before=rows[-1]["id"]) if len(rows) == PAGE_SIZE else None
    runtime = current_runtime()
    # HL7 over HTTP (POST /hl7) is a channel of its own without an entry in the config.
    channels = [c.name for c in runtime.config.channels]
    channels += [name for name in runtime.receivers if name not in channels]
    return render_template("console/messages.html", rows=rows, args=request.args, older=older,
                           newest=url_for(".browse", **shown) if criteria.before_id else None,
                           export=url_for("console_messages.export", **request.args), channels=channels,
                           statuses=STATUSES)


@requires("view")
def export():
    """``/admin/messages.csv``: the page the same query string lists, as CSV."""
    criteria = _criteria()
    if isinstance(criteria, Response):
        return criteria
    rows = _page(criteria)
    audit("export", "console", entity_type="Message", query=filters_used(criteria))
    return Response(summaries_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="messages.csv"'})


@console_messages.record_once
def _register_export(state) -> None:
    # /admin/messages.csv sits beside the prefix, not under it.
    state.app.add_url_rule("/admin/messages.csv", f"{state.name}.export", export, methods=["GET"])


@console_messages.get("/<int:message_id>")
@requires("view")
def detail(message_id: int):
    runtime = current_runtime()
    may_see_raw = caller().may("raw")
    with runtime.database.read() as session:
        found = message_detail(session, message_id, with_raw=may_see_raw,
                               channel_charsets=runtime.pipeline.channel_charsets)
    if found is None:
        abort(404)
    if may_see_raw:
        audit("raw", "console", entity_type="Message", entity_id=str(message_id))
    destinations = sorted(runtime.router.active_destinations)
    return render_template("console/messages_detail.html", detail=found, message=found.summary,
                           destinations=destinations)


@console_messages.post("/<int:message_id>/replay")
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
    return redirect(url_for(".detail", message_id=message_id))


@console_messages.post("/<int:message_id>/deliveries/<int:delivery_id>/retry")
@requires("operate")
def retry_delivery(message_id: int, delivery_id: int):
    runtime = current_runtime()
    found = get_delivery(runtime.database, delivery_id)
    if found is None:
        abort(404)
    retried = retry(runtime.database, [delivery_id])
    audit("retry", "console", status=202 if retried else 409, entity_type="Delivery", entity_id=str(delivery_id))
    if retried:
        announce(runtime.queue.enqueue, retried)
        flash(f"Delivery {delivery_id} to {found['destination']} will be tried again")
    else:
        flash(f"Delivery {delivery_id} is {found['status']}, not parked: nothing to retry")
    return redirect(url_for(".detail", message_id=message_id))


@console_messages.post("/<int:message_id>/resync")
@requires("operate")
def resync(message_id: int):
    runtime = current_runtime()
    patient = request.form.get("patient", "")
    destination = request.form.get("destination") or None
    try:
        result = resync_patient(runtime.database, runtime.repository, runtime.router, patient, destination)
    except (PatientNotFound, AmbiguousPatient, UnknownDestination) as exc:
        status = 404 if isinstance(exc, PatientNotFound) else 400
        audit("resync", "console", status=status, entity_type="Patient", entity_id=patient)
        flash(f"Not resynced: {exc}")
        return redirect(url_for(".detail", message_id=message_id))
    audit("resync", "console", entity_type="Patient", entity_id=result.patient_id)
    announce(runtime.queue.enqueue, result.delivery_ids)
    flash(f"Patient/{result.patient_id}: {len(result.delivery_ids)} deliveries planned"
          + (f" to {destination}" if destination else ""))
    return redirect(url_for(".detail", message_id=message_id))
