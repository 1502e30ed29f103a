"""One guard in front of every view: it finds who is calling (an API client's access token, a
user's session cookie or personal token) and lets the request through only when that caller may
use the surface it asks for. Views declare what a user must be allowed with :func:`requires`;
admin views that declare nothing are for admins only.

| surface                                   | who                                          |
|-------------------------------------------|----------------------------------------------|
| ``/healthz``, ``/fhir/metadata``, ``/.well-known/smart-configuration``, ``/auth/token``, ``/admin/login`` | anyone |
| ``/fhir/*``                               | an API client's token (scopes checked per interaction) |
| ``/hl7``                                  | an API client's token with ``hl7.send``       |
| ``/readyz``, ``/metrics``                 | any token or session, or a scraper network    |
| ``/admin/api/*``                          | a user (session or personal token), by role   |
| ``/admin/*``                              | a signed-in user, by role                     |

A session cookie is a browser's credential, so every state-changing request made with one needs
its CSRF token (a form's ``csrf_token`` field or the ``X-CSRF-Token`` header).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Callable

from flask import Flask, Response, current_app, g, jsonify, redirect, request, session, url_for

from engine.access.audit import ANONYMOUS, MINOR_FAILURE, SUCCESS, Agent
from engine.access.fhir_scopes import interaction_of
from engine.access.scopes import HL7_SEND, Grant
from engine.access.tokens import InvalidToken
from engine.access.users import PERSONAL_TOKEN_PREFIX, Person
from engine.fhir_api.errors import operation_outcome
from foundation import decimal_json
from routes.engine_runtime import current_runtime

#: Paths anyone may call.
OPEN_PATHS = frozenset({"/healthz", "/fhir/metadata", "/.well-known/smart-configuration",
                        "/fhir/.well-known/smart-configuration", "/auth/token",
                        "/admin/login"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Where a signed-in user with a generated first password is sent until it is changed.
PASSWORD_PATH = "/admin/password"


@dataclass(frozen=True)
class Caller:
    """Who sent the request. ``grant`` for API clients, ``person`` for users."""

    agent: Agent
    via: str  # token, personal-token, session, auth-off, none
    grant: Grant | None = None
    person: Person | None = None

    def may(self, permission: str) -> bool:
        return self.via == "auth-off" or (self.person is not None and self.person.may(permission))


NOBODY = Caller(ANONYMOUS, "none")
#: The caller of an engine with authentication off (loopback only): everything is allowed.
LOCAL = Caller(Agent("anonymous", "local (authentication off)"), "auth-off", Grant.everything())


def requires(permission: str) -> Callable:
    """Mark a console or admin view with the permission (engine.access.users.PERMISSIONS) it needs."""
    def mark(view):
        view.required_permission = permission
        return view
    return mark


def caller() -> Caller:
    return g.get("caller", NOBODY)


def audit(subtype: str, surface: str, *, status: int = 200, **fields) -> None:
    """Record one access on the trail, by the current caller, from the request's address."""
    access = current_runtime().access
    fields.setdefault("outcome", SUCCESS if status < 400 else MINOR_FAILURE if status < 500 else "8")
    if status >= 400:
        fields.setdefault("detail", f"status {status}")
    access.audit.record(caller().agent, subtype, surface, source=request.remote_addr, **fields)


def csrf_token() -> str:
    """This browser session's CSRF token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _fhir(status: int, code: str, reason: str) -> Response:
    issue_type = "login" if status == 401 else "forbidden"
    response = Response(decimal_json.dumps(operation_outcome(issue_type, code, reason)), status=status,
                        mimetype="application/fhir+json")
    return response


def _json(status: int, code: str, reason: str) -> Response:
    response = jsonify(error=code, detail=reason)
    response.status_code = status
    return response


def _unauthorised(reason: str, surface: str, error: str = "invalid_token") -> Response:
    if surface == "fhir":
        response = _fhir(401, "unauthorized", reason)
    elif surface == "hl7":
        response = Response(f"{reason}\n", status=401, mimetype="text/plain")
    else:
        response = _json(401, "unauthorized", reason)
    response.headers["WWW-Authenticate"] = f'Bearer realm="carebridge", error="{error}"'
    return response


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _from_session(runtime) -> Caller | None:
    user_id, epoch = session.get("uid"), session.get("epoch")
    if user_id is None:
        return None
    settings = runtime.access.settings
    now = time.time()
    if (now - session.get("seen", 0) > settings.session_idle_minutes * 60
            or now - session.get("iat", 0) > settings.session_max_hours * 3600):
        session.clear()
        return None
    person = runtime.access.users.current(user_id, epoch)
    if person is None:
        session.clear()
        return None
    session["seen"] = now
    return Caller(Agent("user", person.username), "session", person=person)


def _identify(runtime) -> tuple[Caller, str | None]:
    """The caller, and why a credential sent was refused (``None`` when none was sent or it was good)."""
    token = _bearer()
    if token:
        if token.startswith(PERSONAL_TOKEN_PREFIX):
            person = runtime.access.users.by_token(token)
            if person is None:
                return NOBODY, "the personal access token is not valid"
            return Caller(Agent("user", person.username), "personal-token", person=person), None
        try:
            claims = runtime.access.tokens.verify(token)
        except InvalidToken as exc:
            return NOBODY, str(exc)
        if not runtime.access.clients.is_active(claims.client_id):
            return NOBODY, "the access token's client is revoked"
        return Caller(Agent("client", claims.client_id), "token", grant=claims.grant), None
    return _from_session(runtime) or NOBODY, None


def surface_of(path: str) -> str:
    if path == "/fhir" or path.startswith("/fhir/"):
        return "fhir"
    if path == "/hl7" or path.startswith("/hl7/"):
        return "hl7"
    if path.startswith("/admin/api/"):
        return "admin"
    if path == "/admin" or path.startswith("/admin/"):
        return "console"
    if path in ("/readyz", "/metrics"):
        return "ops"
    return "other"


def _required_permission() -> str:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "required_permission", "admin")


def _check_csrf() -> Response | None:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        if surface_of(request.path) == "console":
            return Response("This form has expired or was not sent by the console: reload the page and try "
                            "again.\n", status=403, mimetype="text/plain")
        return _json(403, "csrf-token-missing", "a request made with a session cookie needs its CSRF token "
                                                "(X-CSRF-Token)")
    return None


def _guard() -> Response | None:
    runtime = current_runtime()
    access = runtime.access
    path = request.path.rstrip("/") or "/"
    surface = surface_of(path)
    if not access.enabled:
        g.caller = LOCAL
        return None
    found, refusal = _identify(runtime)
    g.caller = found
    if found.via == "session" and request.method not in SAFE_METHODS:
        refused = _check_csrf()
        if refused is not None:
            audit("csrf", surface, status=403)
            return refused
    if path in OPEN_PATHS or path.startswith("/admin/static"):
        if path == "/admin/login" and request.method not in SAFE_METHODS:
            return _check_csrf()
        return None
    if surface == "fhir":
        if found.grant is None:
            subtype, resource_type, resource_id = interaction_of(request.method, path[len("/fhir"):])
            audit(subtype, "fhir", status=401, entity_type=resource_type, entity_id=resource_id)
            return _unauthorised(refusal or "send Authorization: Bearer <access token> (POST /auth/token)", "fhir")
        return None  # scopes are checked per interaction by the FHIR route
    if surface == "hl7":
        if found.grant is None:
            audit("send", "hl7", status=401)
            return _unauthorised(refusal or "send Authorization: Bearer <access token with hl7.send>", "hl7")
        if not found.grant.has(HL7_SEND):
            audit("send", "hl7", status=403)
            return Response(f"the access token lacks the scope {HL7_SEND}\n", status=403, mimetype="text/plain")
        return None
    if surface == "ops":
        if found.via != "none" or access.settings.may_scrape(request.remote_addr):
            return None
        return _unauthorised(refusal or "send a token, or scrape from CAREBRIDGE_SCRAPER_NETWORKS", "ops")
    if surface == "admin":
        if found.person is None:
            return _unauthorised(refusal or "sign in, or send Authorization: Bearer <personal access token>",
                                 "admin", "invalid_token" if refusal else "invalid_request")
        permission = _required_permission()
        if not found.person.may(permission):
            audit("access", "admin", status=403, entity_type=request.endpoint)
            return _json(403, "forbidden", f"the role {found.person.role} may not do this ({permission})")
        return None
    if surface == "console":
        if found.person is None:
            return redirect(url_for("login.login_form", next=request.full_path.rstrip("?")))
        if found.person.must_change_password and path != PASSWORD_PATH and path != "/admin/logout":
            return redirect(url_for("login.password_form"))
        permission = _required_permission()
        if not found.person.may(permission):
            return Response(f"Your role ({found.person.role}) may not open this page.\n", status=403,
                            mimetype="text/plain")
        return None
    if found.via == "none":
        return _unauthorised(refusal or "authentication required", "other")
    return None


def install(app: Flask) -> None:
    """Put the access guard in front of every view of ``app`` (after the Host and Origin guards)."""
    app.before_request(_guard)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["caller"] = caller
