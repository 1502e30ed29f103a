"""Fixtures of the console tests: an engine runtime with authentication on (on both backends), its
MLLP channel's port held by a listening socket, a Flask test client, and people of each role."""

from __future__ import annotations

import socket

import pytest

from support.access import secured_runtime, sign_in

PASSWORD = "console-test-password"


@pytest.fixture
def mllp_port():
    """A port that accepts TCP connections, standing in for an MLLP listener in another process."""
    with socket.create_server(("127.0.0.1", 0)) as listening:
        listening.listen()
        yield listening.getsockname()[1]


@pytest.fixture
def secured(database_url, tmp_path, test_config, mllp_port):
    """An engine runtime with authentication on (the default) and a Flask test client on it."""
    runtime = secured_runtime(database_url, tmp_path / "var", test_config, CAREBRIDGE_MLLP_PORT=str(mllp_port))
    yield runtime
    runtime.close()


@pytest.fixture
def signed_in(secured):
    """Signs a new user of a role in on the runtime's client: ``signed_in("operator")``; returns the client."""
    def sign(role: str, name: str | None = None):
        name = name or f"{role}-1"
        secured.access.users.add(name, role, PASSWORD)
        answer = sign_in(secured.client, name, PASSWORD)
        assert answer.status_code == 302, answer.get_data(as_text=True)
        return secured.client

    return sign
