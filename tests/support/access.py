"""Helpers of the access tests: a registered client's token, bearer headers, the console's CSRF token."""

from __future__ import annotations

import base64
import re


def token_for(runtime, scope: str) -> str:
    """A fresh client with ``scope`` and a token from ``POST /auth/token`` (client_secret_basic)."""
    registered = runtime.access.clients.add(f"client-{scope[:20]}", scope)
    basic = base64.b64encode(f"{registered['client_id']}:{registered['client_secret']}".encode()).decode()
    answer = runtime.client.post("/auth/token", data={"grant_type": "client_credentials"},
                                 headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client, username: str, password: str):
    form = client.get("/admin/login").get_data(as_text=True)
    return client.post("/admin/login", data={"username": username, "password": password, "csrf_token": csrf_of(form)})


def secured_runtime(database_url: str, var_dir, config_path, **env: str):
    """An engine runtime with authentication on (the default), its schema made, and ``.client``, a Flask
    test client on it; ``env`` adds settings. Close it with ``runtime.close()``."""
    from carebridge.app import create_app
    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings
    from engine.db.migrations import upgrade

    settings = Settings.from_env({
        "CAREBRIDGE_DATABASE_URL": database_url, "CAREBRIDGE_BROKER_URL": "memory://",
        "CAREBRIDGE_VAR_DIR": str(var_dir), "CAREBRIDGE_CONFIG": str(config_path),
        "CAREBRIDGE_TOKEN_SIGNING_KEY": "test-signing-key-of-32-bytes-or-more", **env})
    runtime = build_runtime(settings)
    upgrade(runtime.database)
    runtime.client = create_app(runtime).test_client()
    return runtime
