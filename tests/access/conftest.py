"""Fixtures of the access tests: an engine with authentication on, on both backends, and helpers
that register clients and users and fetch their tokens."""

from __future__ import annotations

import pytest


@pytest.fixture
def secured(database_url, tmp_path, test_config):
    """An engine runtime with authentication on (the default) and a Flask test client on it."""
    from carebridge.app import create_app
    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings
    from engine.db.migrations import upgrade

    settings = Settings.from_env({
        "CAREBRIDGE_DATABASE_URL": database_url, "CAREBRIDGE_BROKER_URL": "memory://",
        "CAREBRIDGE_VAR_DIR": str(tmp_path / "var"), "CAREBRIDGE_CONFIG": str(test_config),
        "CAREBRIDGE_TOKEN_SIGNING_KEY": "test-signing-key-of-32-bytes-or-more"})
    runtime = build_runtime(settings)
    upgrade(runtime.database)
    runtime.client = create_app(runtime).test_client()
    yield runtime
    runtime.close()
