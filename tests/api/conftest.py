"""Fixtures of the FHIR API tests: an engine runtime per backend and a Flask test client on it."""

from __future__ import annotations

import pytest


@pytest.fixture
def runtime(database_url, tmp_path, test_config):
    """The engine's stations on SQLite or PostgreSQL, with the in-process broker and no destination."""
    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings
    from engine.db.migrations import upgrade

    settings = Settings.from_env({
        "CAREBRIDGE_DATABASE_URL": database_url, "CAREBRIDGE_BROKER_URL": "memory://",
        "CAREBRIDGE_VAR_DIR": str(tmp_path / "var"), "CAREBRIDGE_CONFIG": str(test_config),
        "CAREBRIDGE_AUTH": "off"})  # the FHIR API's scopes have their own tests (tests/access)
    built = build_runtime(settings)
    upgrade(built.database)
    yield built
    built.close()


@pytest.fixture
def client(runtime):
    from carebridge.app import create_app

    return create_app(runtime).test_client()
