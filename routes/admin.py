"""The admin JSON API under ``/admin/api/``: parked deliveries, retries, manual resync and the
sync log. Answers carry ids, statuses and reasons, never patient data.

A user calls it with a console session (and its CSRF token) or a personal access token; each
view says what the user's role must allow (routes/access_guard.py).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from engine.access.audit import as_dict as audit_record
from engine.db.models import is_record_id
from engine.operations.dead_letters import MAX_CANCEL_REASON, cancel, get_delivery, list_deliveries, retry
from engine.operations.erasure import erase_patient
from engine.operations.patient_lookup import AmbiguousPatient, PatientNotFound
from engine.operations.resync import UnknownDestination, resync_patient
from engine.operations.sync_log_queries import patient_log
from engine.routing.outbox import announce
from routes.access_guard import audit, caller, requires
from routes.console import current_overview
from routes.engine_runtime import current_runtime

admin = Blueprint("admin", __name__)
#: Largest page a listing returns.
MAX_LIMIT = 1000



def _problem(status: int, code: str, message: str):
    return jsonify(error=code, message=message), status


def _limit(default: int) -> int:
    try:
        return max(1, min(int(request.args.get("limit", default)), MAX_LIMIT))
    except ValueError:
        return default


#: Why a body that is not a JSON object (or names a destination that is not a string) is refused.
_NOT_AN_OBJECT = "send a JSON object (its destination, if any, a string)"


def _body() -> dict | None:
    """The request's JSON object (``{}`` without a body); ``None`` when it is JSON but not an object,
    or its ``destination`` is not a string."""
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict) or not isinstance(body.get("destination") or "", str):
        return None
    return body


def _announce(delivery_ids: list[int]) -> None:
    announce(current_runtime().queue.enqueue, delivery_ids)


@admin.get("/deliveries")
@requires("view")
def deliveries():
    status = request.args.get("status", "failed")
    rows = list_deliveries(current_runtime().database, None if status == "all" else status,
                           request.args.get("destination"), _limit(100))
    return jsonify(deliveries=rows, count=len(rows))


@admin.get("/deliveries/<int:delivery_id>")
@requires("view")
def delivery(delivery_id: int):
    found = get_delivery(current_runtime().database, delivery_id)
    return jsonify(found) if found else _problem(404, "not-found", f"no delivery {delivery_id}")


@admin.post("/deliveries/<int:delivery_id>/retry")
@requires("operate")
def retry_one(delivery_id: int):
    found = get_delivery(current_runtime().database, delivery_id)
    if found is None:
        return _problem(404, "not-found", f"no delivery {delivery_id}")
    retried = retry(current_runtime().database, [delivery_id])
    audit("retry", "admin", status=202 if retried else 409, entity_type="Delivery", entity_id=str(delivery_id))
    if not retried:
        return _problem(409, "not-parked", f"delivery {delivery_id} is {found['status']}, not parked")
    _announce(retried)
    return jsonify(retried=retried), 202


@admin.post("/deliveries/retry")
@requires("operate")
def retry_bulk():
    body = _body()
    if body is None:
        return _problem(400, "bad-request", _NOT_AN_OBJECT)
    ids = body.get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(is_record_id(i) for i in ids)):
        return _problem(400, "bad-request", "ids must be a list of delivery ids")
    retried = retry(current_runtime().database, ids, body.get("destination"))
    audit("retry", "admin", entity_type="Delivery", query=[k for k in ("ids", "destination") if body.get(k)],
          detail=f"{len(retried)} deliveries")
    _announce(retried)
    return jsonify(retried=retried, count=len(retried)), 202


@admin.post("/deliveries/cancel")
@requires("operate")
def cancel_bulk():
    """Cancel parked deliveries (``{"ids": [...], "reason": "..."}``): they are never sent."""
    body = _body()
    if body is None:
        return _problem(400, "bad-request", _NOT_AN_OBJECT)
    ids, reason = body.get("ids"), body.get("reason")
    if not isinstance(ids, list) or not ids or not all(is_record_id(i) for i in ids):
        return _problem(400, "bad-request", "ids must be a list of delivery ids")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_CANCEL_REASON:
        return _problem(400, "bad-request", f"a reason (at most {MAX_CANCEL_REASON} characters) is needed")
    cancelled = cancel(current_runtime().database, ids, reason, caller().agent.name)
    for delivery_id in ids:
        audit("cancel", "admin", status=200 if delivery_id in cancelled else 409, entity_type="Delivery",
              entity_id=str(delivery_id))
    return jsonify(cancelled=cancelled, count=len(cancelled))


@admin.get("/overview")
@requires("view")
def overview():
    """The dashboard's figures: per channel and destination, counts, states and the last hour per minute."""
    return jsonify(current_overview().as_dict())


@admin.post("/patients/<patient_id>/sync")
@requires("operate")
def sync_patient(patient_id: str):
    body = _body()
    if body is None:
        return _problem(400, "bad-request", _NOT_AN_OBJECT)
    runtime = current_runtime()
    try:
        result = resync_patient(runtime.database, runtime.repository, runtime.router, patient_id,
                                body.get("destination") or request.args.get("destination"))
    except PatientNotFound:
        audit("resync", "admin", status=404, entity_type="Patient", entity_id=patient_id)
        return _problem(404, "not-found", "no current patient has that id")
    except (AmbiguousPatient, UnknownDestination) as exc:
        audit("resync", "admin", status=400, entity_type="Patient", entity_id=patient_id)
        return _problem(400, "bad-request", str(exc))
    audit("resync", "admin", entity_type="Patient", entity_id=patient_id)
    _announce(result.delivery_ids)
    return jsonify(result.as_dict()), 202


@admin.post("/patients/<patient_id>/erase")
@requires("admin")
def erase(patient_id: str):
    """Remove a patient everywhere (engine/operations/erasure.py); the answer has counts, never content."""
    runtime = current_runtime()
    try:
        plan = erase_patient(runtime.database, patient_id, runtime.access.audit, caller().agent, "admin",
                             source=request.remote_addr)
    except LookupError:
        audit("erase", "admin", status=404, entity_type="Patient", entity_id=patient_id)
        return _problem(404, "not-found", "no patient has that id")
    return jsonify(patient=f"Patient/{plan.patient_id}", resources=len(plan.resources), versions=plan.versions,
                   messages=len(plan.message_ids), deliveries=plan.deliveries,
                   crossReferences=plan.cross_references, syncLog=plan.sync_log,
                   sharedMessagesKept=plan.shared_messages)


@admin.get("/patients/<patient_id>/sync-log")
@requires("view")
def sync_log(patient_id: str):
    runtime = current_runtime()
    try:
        resolved, rows = patient_log(runtime.database, runtime.repository, patient_id,
                                     request.args.get("destination"), _limit(200))
    except PatientNotFound:
        return _problem(404, "not-found", "no patient has that id")
    except AmbiguousPatient as exc:
        return _problem(400, "bad-request", str(exc))
    audit("read", "admin", entity_type="Patient", entity_id=resolved, detail="sync log")
    return jsonify(patient=f"Patient/{resolved}", entries=rows, count=len(rows))


@admin.get("/audit-events")
@requires("admin")
def audit_events():
    """The audit trail, newest first (``agent``, ``entityType``, ``entityId``, ``action``, ``outcome``, ``before``)."""
    args = request.args
    try:
        if args.get("before") and not is_record_id(args["before"]):
            raise ValueError(args["before"])
        before = int(args["before"]) if args.get("before") else None
    except ValueError:
        return _problem(400, "bad-request", "before must be an audit record id")
    rows = current_runtime().access.audit.find(
        agent=args.get("agent"), entity_type=args.get("entityType"), entity_id=args.get("entityId"),
        action=args.get("action"), outcome=args.get("outcome"), before_id=before, limit=_limit(100))
    return jsonify(items=[audit_record(r) for r in rows], count=len(rows))
