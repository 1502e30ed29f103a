"""OAuth2 for API clients, the SMART Backend Services way: ``POST /auth/token`` (``grant_type=
client_credentials``; the client authenticates with ``client_secret_basic``, ``client_secret_post``
or ``private_key_jwt``) and ``GET /.well-known/smart-configuration`` saying so."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from flask import Blueprint, Response, jsonify, request

from engine.access.audit import MINOR_FAILURE, SUCCESS, Agent
from engine.access.clients import ASSERTION_ALGORITHMS, JWT_BEARER, ClientAuthError
from engine.access.scopes import InvalidScope
from routes.engine_runtime import current_runtime

auth = Blueprint("auth", __name__)

#: The scopes the engine understands, for discovery.
SCOPES_SUPPORTED = ["system/*.cruds", "system/*.rs", "system/*.read", "system/*.write", "system/*.*",
                    "system/AuditEvent.rs", "hl7.send"]


def _root() -> str:
    """The engine's public base: ``CAREBRIDGE_PUBLIC_URL``, or as the client called it (proxy headers honoured)."""
    configured = current_runtime().access.settings.public_url
    if configured:
        return configured
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    prefix = request.headers.get("X-Forwarded-Prefix", "").rstrip("/")
    return f"{proto}://{host}{prefix}{request.script_root}"


def smart_configuration() -> Response:
    response = jsonify({
        "issuer": _root(),
        "token_endpoint": f"{_root()}/auth/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "client_secret_post"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["token"],
        "capabilities": ["client-confidential-asymmetric", "client-confidential-symmetric", "permission-v1",
                         "permission-v2"],
    })
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


auth.add_url_rule("/.well-known/smart-configuration", "smart_configuration", smart_configuration)


def _oauth_error(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="carebridge"'
    return response


def _basic_credentials() -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise ClientAuthError("the Basic credentials are not valid base64") from None
    return unquote(client_id), unquote(secret)  # RFC 6749 2.3.1: form-encoded, then Basic


def _claimed_basic_id() -> str | None:
    try:
        basic = _basic_credentials()
    except ClientAuthError:
        return None
    return basic[0] if basic else None


def _authenticate(access):
    form = request.form
    basic = _basic_credentials()
    if basic:
        return access.clients.authenticate_secret(*basic)
    if form.get("client_assertion"):
        if form.get("client_assertion_type") != JWT_BEARER:
            raise ClientAuthError(f"client_assertion_type must be {JWT_BEARER}")
        # The audience is this endpoint as configured or as called, never as X-Forwarded-* headers claim:
        # any caller may send those, and an assertion made for another server must not serve here.
        configured = access.settings.public_url
        urls = ([f"{configured}/auth/token"] if configured else []) + [request.base_url]
        return access.clients.authenticate_assertion(form["client_assertion"], list(dict.fromkeys(urls)))
    if form.get("client_id") and form.get("client_secret"):
        return access.clients.authenticate_secret(form["client_id"], form["client_secret"])
    raise ClientAuthError("authenticate with client_secret_basic, client_secret_post or private_key_jwt")


@auth.post("/auth/token")
def token():
    access = current_runtime().access
    if request.mimetype != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "send the token request as application/x-www-form-urlencoded")
    if request.form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    try:
        client = _authenticate(access)
    except ClientAuthError as exc:
        claimed = (_claimed_basic_id() or request.form.get("client_id") or "unknown")[:64]
        access.audit.record(Agent("client", claimed), "token", "auth",
                            outcome=MINOR_FAILURE, detail="invalid_client", source=request.remote_addr)
        return _oauth_error(401, "invalid_client", str(exc))
    try:
        grant = client.grant.narrowed_to(request.form["scope"]) if request.form.get("scope") else client.grant
    except InvalidScope as exc:
        return _oauth_error(400, "invalid_scope", str(exc))
    access.audit.record(Agent("client", client.client_id), "token", "auth", outcome=SUCCESS,
                        source=request.remote_addr)
    response = jsonify(access.tokens.issue(client.client_id, grant))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
