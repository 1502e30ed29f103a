"""Helpers of the message browser's tests: an engine runtime with authentication on and Carepatron
delivery to the simulator, users of each role signed in to the console, and messages to find."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from support.access import csrf_of, sign_in
from support.config import TEST_API_KEY
from support.hl7_messages import adt

#: Every test user's password.
PASSWORD = "a long enough password"
#: A family name only the raw messages hold (the console must not show it without ``raw``).
FAMILY = "Quillfeather"


@dataclass
class Console:
    """An engine runtime and a console session per role: ``console.page("viewer", "/admin/messages")``."""

    runtime: object
    app: object
    clients: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def client(self, role: str):
        """A console session of a user with ``role`` (the user is added on first use)."""
        if role not in self.clients:
            self._user(role)
            client = self.app.test_client()
            assert sign_in(client, f"{role}-user", PASSWORD).status_code == 302
            self.clients[role] = client
        return self.clients[role]

    def _user(self, role: str) -> None:
        if f"{role}-user" not in {u["username"] for u in self.runtime.access.users.list()}:
            self.runtime.access.users.add(f"{role}-user", role, PASSWORD)

    def get(self, role: str, path: str, **kwargs):
        return self.client(role).get(path, **kwargs)

    def page(self, role: str, path: str) -> str:
        answer = self.get(role, path)
        assert answer.status_code == 200, (answer.status_code, answer.get_data(as_text=True)[:500])
        return answer.get_data(as_text=True)

    def post_form(self, role: str, page_path: str, action: str, data: dict | None = None):
        """Post one of the page's forms, with the page's CSRF token, as a browser would."""
        token = csrf_of(self.page(role, page_path))
        return self.client(role).post(action, data={"csrf_token": token, **(data or {})})

    def api(self, role: str, path: str):
        """``GET path`` with the personal token of a user with ``role``."""
        if role not in self.tokens:
            self._user(role)
            self.tokens[role] = self.runtime.access.users.issue_token(f"{role}-user")
        return self.app.test_client().get(path, headers={"Authorization": f"Bearer {self.tokens[role]}"})


def build_console(database_url: str, var_dir: Path, config: Path, simulator, workers: int = 0) -> Console:
    """A runtime with authentication on, delivering to ``simulator`` (``workers`` delivery threads)."""
    from carebridge.app import create_app
    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings
    from engine.db.migrations import upgrade

    settings = Settings.from_env({
        "CAREBRIDGE_DATABASE_URL": database_url, "CAREBRIDGE_BROKER_URL": "memory://",
        "CAREBRIDGE_VAR_DIR": str(var_dir), "CAREBRIDGE_CONFIG": str(config),
        "CAREBRIDGE_TOKEN_SIGNING_KEY": "test-signing-key-of-32-bytes-or-more",
        "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
        "CAREBRIDGE_DELIVERY_LEASE_SECONDS": "2", "CAREBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5"})
    runtime = build_runtime(settings)
    upgrade(runtime.database)
    runtime.worker = runtime.queue.start_worker(workers) if workers else None
    return Console(runtime, create_app(runtime))


def close_console(console: Console) -> None:
    runtime = console.runtime
    if runtime.worker:
        runtime.worker.stop()
    runtime.close()
    if hasattr(runtime.queue.broker, "close"):
        runtime.queue.broker.close()


def listed_ids(page: str) -> list[int]:
    """The message ids a browser page lists, in its order."""
    return [int(found) for found in re.findall(r'<td class="num"><a href="/admin/messages/(\d+)"', page)]


def receive(console: Console, raw: bytes, channel: str = "mllp") -> int:
    """Receive ``raw`` as the channel's receiver does (the ACK kept); the stored message's id."""
    from sqlalchemy import func, select

    from engine.db.models import Message

    console.runtime.receivers[channel].receive(raw, peer="127.0.0.1:5000")
    with console.runtime.database.read() as session:
        return session.scalar(select(func.max(Message.id)))


def adt_from(facility: str, event: str, control_id: str, **fields) -> bytes:
    """An ADT (support.hl7_messages.adt) whose MSH-4 names ``facility``."""
    return adt(event, control_id, **fields).replace(b"|HIS|HOSP|", f"|HIS|{facility}|".encode(), 1)
