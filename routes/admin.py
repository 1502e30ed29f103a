"""The admin JSON API under ``/admin/api/``: parked deliveries, retries, manual resync and the
sync log. Answers carry ids, statuses and reasons, never patient data.

When ``CAREBRIDGE_ADMIN_TOKEN`` is set every request needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from engine.operations.dead_letters import get_delivery, list_deliveries, retry
from engine.operations.patient_lookup import AmbiguousPatient, PatientNotFound
from engine.operations.resync import UnknownDestination, resync_patient
from engine.operations.sync_log_queries import patient_log
from engine.routing.outbox import announce
from routes.admin_auth import require_admin_token
from routes.engine_runtime import current_runtime

admin = Blueprint("admin", __name__)
require_admin_token(admin)
#: Largest page a listing returns.
MAX_LIMIT = 1000



def _problem(status: int, code: str, message: str):
    return jsonify(error=code, message=message), status


def _limit(default: int) -> int:
    try:
        return max(1, min(int(request.args.get("limit", default)), MAX_LIMIT))
    except ValueError:
        return default


def _announce(delivery_ids: list[int]) -> None:
    announce(current_runtime().queue.enqueue, delivery_ids)


@admin.get("/deliveries")
def deliveries():
    status = request.args.get("status", "failed")
    rows = list_deliveries(current_runtime().database, None if status == "all" else status,
                           request.args.get("destination"), _limit(100))
    return jsonify(deliveries=rows, count=len(rows))


@admin.get("/deliveries/<int:delivery_id>")
def delivery(delivery_id: int):
    found = get_delivery(current_runtime().database, delivery_id)
    return jsonify(found) if found else _problem(404, "not-found", f"no delivery {delivery_id}")


@admin.post("/deliveries/<int:delivery_id>/retry")
def retry_one(delivery_id: int):
    found = get_delivery(current_runtime().database, delivery_id)
    if found is None:
        return _problem(404, "not-found", f"no delivery {delivery_id}")
    retried = retry(current_runtime().database, [delivery_id])
    if not retried:
        return _problem(409, "not-parked", f"delivery {delivery_id} is {found['status']}, not parked")
    _announce(retried)
    return jsonify(retried=retried), 202


@admin.post("/deliveries/retry")
def retry_bulk():
    body = request.get_json(silent=True) or {}
    ids = body.get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        return _problem(400, "bad-request", "ids must be a list of delivery ids")
    retried = retry(current_runtime().database, ids, body.get("destination"))
    _announce(retried)
    return jsonify(retried=retried, count=len(retried)), 202


@admin.post("/patients/<patient_id>/sync")
def sync_patient(patient_id: str):
    body = request.get_json(silent=True) or {}
    runtime = current_runtime()
    try:
        result = resync_patient(runtime.database, runtime.repository, runtime.router, patient_id,
                                body.get("destination") or request.args.get("destination"))
    except PatientNotFound:
        return _problem(404, "not-found", "no current patient has that id")
    except (AmbiguousPatient, UnknownDestination) as exc:
        return _problem(400, "bad-request", str(exc))
    _announce(result.delivery_ids)
    return jsonify(result.as_dict()), 202


@admin.get("/patients/<patient_id>/sync-log")
def sync_log(patient_id: str):
    runtime = current_runtime()
    try:
        resolved, rows = patient_log(runtime.database, runtime.repository, patient_id,
                                     request.args.get("destination"), _limit(200))
    except PatientNotFound:
        return _problem(404, "not-found", "no patient has that id")
    except AmbiguousPatient as exc:
        return _problem(400, "bad-request", str(exc))
    return jsonify(patient=f"Patient/{resolved}", entries=rows, count=len(rows))
