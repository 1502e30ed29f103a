"""Guards every HTTP request passes before a view runs: the ``Host`` it names must be one this
engine serves (a foreign ``Host:`` is how DNS rebinding reaches a loopback engine), and a
state-changing request from a browser must come from the engine's own origin (CSRF).

``CAREBRIDGE_ALLOWED_HOSTS`` lists the host names served (``*`` for any). Unset, an engine bound
to loopback serves loopback names only, and one bound elsewhere serves any host until the
setting names them.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request

from engine.config.environment import Settings
from engine.fhir_api.errors import operation_outcome
from foundation import decimal_json

#: Host names of this machine, served by an engine bound to loopback.
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
#: Methods that change nothing, so a cross-site request with them cannot do harm.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The FHIR API answers its errors as OperationOutcomes.
FHIR_PREFIX = "/fhir"


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """The host names this engine serves; ``None`` for any."""
    configured = settings.environ.get("CAREBRIDGE_ALLOWED_HOSTS", "").strip()
    if configured:
        hosts = frozenset(h.strip().lower().strip("[]") for h in configured.split(",") if h.strip())
        return None if "*" in hosts else hosts
    return LOOPBACK_NAMES if _is_loopback(settings.bind_host) else None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(authority: str) -> str:
    """``example.org`` of ``example.org:8080``; ``::1`` of ``[::1]:8080``."""
    return (urlsplit(f"//{authority}").hostname or "").lower()


def _refuse(status: int, code: str, reason: str) -> Response:
    if request.path == FHIR_PREFIX or request.path.startswith(FHIR_PREFIX + "/"):
        issue_type = "forbidden" if status == 403 else "invalid"
        return Response(decimal_json.dumps(operation_outcome(issue_type, code, reason)), status=status,
                        mimetype="application/fhir+json")
    response = jsonify({"error": code, "detail": reason})
    response.status_code = status
    return response


def _cross_origin() -> bool:
    """Whether a browser sent this request from another site than the engine's."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False  # not sent by a browser's cross-origin request (API clients send none)
    parts = urlsplit(origin)
    return origin == "null" or parts.netloc.lower() != request.host.lower()


def install(app: Flask, settings: Settings) -> None:
    """Put the guards in front of every view of ``app``."""
    hosts = allowed_hosts(settings)

    @app.before_request
    def _guard():
        if hosts is not None and _host_name(request.host) not in hosts:
            return _refuse(400, "host-not-allowed", "the Host header names a host this engine does not serve "
                                                    "(CAREBRIDGE_ALLOWED_HOSTS)")
        if request.method not in SAFE_METHODS and _cross_origin():
            return _refuse(403, "cross-origin-refused", "a state-changing request from another origin is refused")
        return None
