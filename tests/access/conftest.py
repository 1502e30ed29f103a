"""Fixtures of the access tests: an engine with authentication on, on both backends, and helpers
that register clients and users and fetch their tokens."""

from __future__ import annotations

import pytest

from support.access import secured_runtime


@pytest.fixture
def secured(database_url, tmp_path, test_config):
    """An engine runtime with authentication on (the default) and a Flask test client on it."""
    runtime = secured_runtime(database_url, tmp_path / "var", test_config)
    yield runtime
    runtime.close()
