"""Fixtures of the fuzz tests: the embedded backend (SQLite, in-process broker) only, so that each
fuzz test stays within its time bound; the properties do not depend on the database."""

from __future__ import annotations

import pytest

from support.access import secured_runtime


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'carebridge.db'}"


@pytest.fixture
def backend(tmp_path) -> dict[str, str]:
    return {"CAREBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'carebridge.db'}", "CAREBRIDGE_BROKER_URL": "memory://"}


@pytest.fixture
def secured(database_url, tmp_path, test_config):
    """An engine runtime with authentication on and a Flask test client on it (as tests/access has it)."""
    runtime = secured_runtime(database_url, tmp_path / "var", test_config)
    yield runtime
    runtime.close()


@pytest.fixture
def fhir_client(database_url, tmp_path, test_config):
    """A Flask test client on an engine with authentication off (as tests/api has it)."""
    from carebridge.app import create_app
    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings
    from engine.db.migrations import upgrade

    settings = Settings.from_env({
        "CAREBRIDGE_DATABASE_URL": database_url, "CAREBRIDGE_BROKER_URL": "memory://",
        "CAREBRIDGE_VAR_DIR": str(tmp_path / "var"), "CAREBRIDGE_CONFIG": str(test_config),
        "CAREBRIDGE_AUTH": "off"})
    runtime = build_runtime(settings)
    upgrade(runtime.database)
    yield create_app(runtime).test_client()
    runtime.close()
