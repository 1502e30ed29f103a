"""Admin JSON API for inbound messages: find them, see what became of them, replay them."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from engine.db.models import Message
from engine.operations.replay import UnreplayableMessage
from engine.store.message_queries import (
    MessageFilter,
    counts_by_status,
    filter_from_params,
    filters_used,
    find_messages,
    page_size,
    summaries_csv,
    summary,
)
from foundation import decimal_json
from routes.access_guard import audit, caller, requires
from routes.console_pages.replay import current_preview
from routes.engine_runtime import current_runtime

messages = Blueprint("messages", __name__)



def _outcome(outcome) -> dict:
    return {"messageId": outcome.message_id, "outcome": outcome.status, "reason": outcome.reason,
            "resources": [w.reference for w in outcome.written]}


@messages.get("/messages")
@requires("view")
def list_messages():
    args = request.args
    try:
        criteria = MessageFilter(
            status=args.get("status"), message_type=args.get("type"), channel=args.get("channel"),
            control_id=args.get("controlId"),
            since=datetime.fromisoformat(args["since"]) if args.get("since") else None,
            before_id=int(args["before"]) if args.get("before") else None,
            limit=page_size(int(args.get("limit", 50))))
        criteria = _with_browser_filters(criteria, args)
    except ValueError as exc:
        return jsonify(error="bad-request", detail=str(exc)), 400
    refused = _refuse_text_search(criteria)
    if refused is not None:
        return refused
    with current_runtime().database.read() as session:
        found = find_messages(session, criteria)
        counts = counts_by_status(session)
    body = {"items": [summary(m) for m in found], "counts": counts}
    if len(found) == criteria.limit and found:
        body["next"] = found[-1].id
    return jsonify(body)


def _with_browser_filters(criteria: MessageFilter, args) -> MessageFilter:
    """The console browser's filters too (trigger, facility, identifier, until, q; control_id beside
    controlId), and ``since`` read as UTC when it names no offset."""
    more = filter_from_params(args, criteria.limit)
    return replace(criteria, control_id=more.control_id, since=more.since, trigger=more.trigger,
                   facility=more.facility, identifier=more.identifier, until=more.until, text=more.text)


def _refuse_text_search(criteria: MessageFilter):
    """A search of the raw messages' text (``q``) is raw access: audited, and refused without ``raw``."""
    if criteria.text is None:
        return None
    allowed = caller().may("raw")
    audit("raw", "admin", status=200 if allowed else 403, entity_type="Message", query=filters_used(criteria))
    if allowed:
        return None
    return jsonify(error="forbidden", detail=f"the role {caller().person.role} may not search raw messages (q)"), 403


@messages.get("/messages.csv")
@requires("view")
def export_messages():
    """The page ``GET /messages`` lists for the same query, as CSV: ids, codes and times only."""
    try:
        criteria = filter_from_params(request.args, int(request.args.get("limit", 50)))
    except ValueError as exc:
        return jsonify(error="bad-request", detail=str(exc)), 400
    refused = _refuse_text_search(criteria)
    if refused is not None:
        return refused
    with current_runtime().database.read() as session:
        rows = [summary(m) for m in find_messages(session, criteria)]
    audit("export", "admin", entity_type="Message", query=filters_used(criteria))
    return Response(summaries_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="messages.csv"'})


@messages.get("/messages/<int:message_id>")
@requires("view")
def show_message(message_id: int):
    raw = request.args.get("raw") == "true"
    if raw and not caller().may("raw"):
        audit("raw", "admin", status=403, entity_type="Message", entity_id=str(message_id))
        return jsonify(error="forbidden", detail=f"the role {caller().person.role} may not see raw messages"), 403
    with current_runtime().database.read() as session:
        message = session.get(Message, message_id)
        if message is None:
            return jsonify(error="not-found", detail=f"no message {message_id}"), 404
        body = summary(message)
        if raw:  # the content only when asked for: it is patient data
            body["raw"] = base64.b64encode(message.raw).decode()
    if raw:
        audit("raw", "admin", entity_type="Message", entity_id=str(message_id))
    return jsonify(body)


@messages.get("/messages/<int:message_id>/replay-preview")
@requires("replay")
def replay_preview(message_id: int):
    """What replaying the message would change, per resource and element; ``?values=true`` (``raw``) adds
    the values before and after, which are patient data."""
    values = request.args.get("values") == "true"
    if values and not caller().may("raw"):
        audit("raw", "admin", status=403, entity_type="Message", entity_id=str(message_id))
        return jsonify(error="forbidden", detail=f"the role {caller().person.role} may not see patient data"), 403
    try:
        found = current_preview(message_id)
    except UnreplayableMessage as exc:
        status = 404 if str(exc).startswith("no message") else 409
        return jsonify(error="not-found" if status == 404 else "not-replayable", detail=str(exc)), status
    if values:
        audit("raw", "admin", entity_type="Message", entity_id=str(message_id))
    return Response(decimal_json.dumps(found.as_dict(with_values=values)), mimetype="application/json")


@messages.post("/messages/<int:message_id>/replay")
@requires("replay")
def replay_message(message_id: int):
    try:
        outcome = current_runtime().replay.replay(message_id)
    except UnreplayableMessage as exc:
        audit("replay", "admin", status=409, entity_type="Message", entity_id=str(message_id))
        return jsonify(error="not-replayable", detail=str(exc)), 409
    audit("replay", "admin", entity_type="Message", entity_id=str(message_id))
    return jsonify(_outcome(outcome))


@messages.post("/messages/replay")
@requires("replay")
def replay_messages():
    filters = request.get_json(silent=True) or {}
    if not isinstance(filters, dict) or any(not isinstance(filters.get(k, ""), str)
                                            for k in ("status", "type", "channel")):
        return jsonify(error="bad-request", detail="send a JSON object whose status, type and channel are strings"), 400
    if not any(filters.get(k) for k in ("status", "type", "channel")):
        return jsonify(error="bad-request", detail="name at least one of status, type, channel"), 400
    outcomes = current_runtime().replay.replay_where(status=filters.get("status"), message_type=filters.get("type"),
                                              channel=filters.get("channel"))
    audit("replay", "admin", entity_type="Message", query=[k for k in ("status", "type", "channel") if filters.get(k)],
          detail=f"{len(outcomes)} messages")
    return jsonify({"replayed": len(outcomes), "items": [_outcome(o) for o in outcomes.values()]})
