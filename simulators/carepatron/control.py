"""``/_sim``: drive and inspect the simulator from another process (no API key).

The JSON of ``POST /_sim/faults`` names a method of :class:`~.faults.Faults` and its
keyword arguments: ``{"fault": "fail_next", "count": 3, "status": 503, "path": "/clients"}``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from .resources import KINDS
from .simulation import Simulation

#: The methods of ``Faults`` that ``POST /_sim/faults`` may call.
FAULTS = ("fail_next", "fail_randomly", "every_nth", "burst_429", "latency", "timeout", "reject")

blueprint = Blueprint("control", __name__)


def simulation() -> Simulation:
    return current_app.extensions["carepatron_simulator"]


@blueprint.get("/state")
def state() -> dict[str, Any]:
    sim = simulation()
    return {
        "inFlight": sim.traffic.in_flight,
        "counts": sim.store.counts(),
        "faults": sim.faults.rules(),
        "rateLimit": sim.rate_limiter.per_minute,
    }


@blueprint.get("/records/<kind>")
def records(kind: str) -> tuple[Response, int] | dict[str, Any]:
    if kind not in KINDS:
        return _error(f"unknown kind {kind}; one of {', '.join(KINDS)}", 404)
    return {"items": simulation().store.records(kind)}


@blueprint.get("/requests")
def requests_log() -> dict[str, Any]:
    return {"items": simulation().traffic.requests()}


@blueprint.delete("/requests")
def clear_requests() -> tuple[str, int]:
    simulation().traffic.clear()
    return "", 204


@blueprint.post("/faults")
def add_fault() -> tuple[Response, int]:
    settings = request.get_json(silent=True)
    if not isinstance(settings, dict) or settings.get("fault") not in FAULTS:
        return _error(f"send {{\"fault\": one of {', '.join(FAULTS)}, ...arguments}}", 400)
    name = settings.pop("fault")
    try:
        rule_id = getattr(simulation().faults, name)(**settings)
    except (TypeError, ValueError) as error:
        return _error(str(error), 400)
    return jsonify(id=rule_id), 201


@blueprint.delete("/faults")
def clear_faults() -> tuple[str, int]:
    """All faults, or with ``?kind=`` only those aimed at one kind (lifting a rejection)."""
    kind = request.args.get("kind")
    if kind:
        simulation().faults.lift(kind)
    else:
        simulation().faults.clear()
    return "", 204


@blueprint.delete("/faults/<rule_id>")
def remove_fault(rule_id: str) -> tuple[Response | str, int]:
    if not simulation().faults.remove(rule_id):
        return _error(f"no fault has id {rule_id}", 404)
    return "", 204


@blueprint.put("/rate-limit")
def set_rate_limit() -> tuple[Response, int] | dict[str, Any]:
    settings = request.get_json(silent=True)
    per_minute = settings.get("perMinute") if isinstance(settings, dict) else "missing"
    if per_minute is not None and (not isinstance(per_minute, int) or per_minute < 0):
        return _error('send {"perMinute": a whole number, or null for no limit}', 400)
    simulation().rate_limiter.per_minute = per_minute
    return {"rateLimit": per_minute}


@blueprint.post("/reset")
def reset() -> tuple[str, int]:
    simulation().reset()
    return "", 204


def _error(detail: str, status: int) -> tuple[Response, int]:
    return jsonify(detail=detail, status=status), status
