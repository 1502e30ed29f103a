"""Guards the admin API: when ``CAREBRIDGE_ADMIN_TOKEN`` is set, requests need ``Authorization: Bearer <token>``.

Without a token the admin API is open to whoever can reach the port, which by default
is loopback only (``CAREBRIDGE_BIND_HOST=127.0.0.1``).
"""

from __future__ import annotations

import hmac

from flask import Blueprint, jsonify, request

from routes.engine_runtime import current_runtime


def require_admin_token(blueprint: Blueprint) -> None:
    """Make every route of ``blueprint`` check the admin token."""

    @blueprint.before_request
    def _check():
        token = current_runtime().settings.environ.get("CAREBRIDGE_ADMIN_TOKEN")
        if not token:
            return None
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = jsonify(error="unauthorized", detail="send Authorization: Bearer <CAREBRIDGE_ADMIN_TOKEN>")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="carebridge-admin"'
            return response
        return None
