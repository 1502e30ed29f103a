"""Health endpoints: ``/healthz`` (the process answers) and ``/readyz`` (database and broker reachable)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from routes.engine_runtime import current_runtime

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz():
    return jsonify(status="ok")


@health.get("/readyz")
def readyz():
    runtime = current_runtime()
    checks = {}
    for name, check in (("database", runtime.database.ping), ("broker", runtime.queue.ping)):
        try:
            check()
            checks[name] = "ok"
        except Exception as exc:  # the type is enough for an operator; messages may carry hosts
            checks[name] = f"unavailable ({type(exc).__name__})"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    if not runtime.access.enabled:
        body["warnings"] = ["authentication is off (CAREBRIDGE_AUTH=off): anyone on this machine may call the engine"]
    return jsonify(body), 200 if ready else 503
