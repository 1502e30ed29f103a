"""A running ``carebridge serve`` with a drop-folder channel, as the file tests drive it:
drop a file the way senders do (``.tmp`` then rename), wait for it in ``done/`` or ``error/``,
and read what the FHIR API holds."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from support.config import ROOT, TEST_API_KEY, write_test_config
from support.engine_process import EngineProcess, start_engine, wait_until

#: Carepatron calls a minute for file tests, which are not about the rate limit.
FILE_TESTS_RATE_LIMIT = 6000
#: Options that make a test channel quick: short settle, poll and wait-retry times.
QUICK_CHANNEL = {"settle_seconds": 0.3, "poll_interval_seconds": 0.5, "wait_retry_seconds": 0.5}


def channel_config(tmp_path: Path, **options: Any) -> Path:
    """The bundled engine.yaml whose ``inbox`` channel has quick timings and ``options``."""
    channels = yaml.safe_load((ROOT / "config" / "engine.yaml").read_text())["channels"]
    for channel in channels:
        if channel["name"] == "inbox":
            channel.update(QUICK_CHANNEL, **options)
    return write_test_config(tmp_path, channels=channels)


@pytest.fixture(scope="module")
def module_simulator():
    """A simulator shared by one module's tests (each uses patients of its own)."""
    from simulators.carepatron import CarepatronSimulator

    with CarepatronSimulator(api_key=TEST_API_KEY) as sim:
        yield sim


@dataclass
class DropEngine:
    engine: EngineProcess
    inbox: Path
    database_url: str

    @classmethod
    def start(cls, tmp_path: Path, simulator, name: str = "engine", inbox: Path | None = None,
              database_url: str | None = None, extra_env: dict[str, str] | None = None,
              **options: Any) -> "DropEngine":
        """``database_url`` (PostgreSQL, already upgraded) instead of the SQLite file under ``tmp_path``;
        ``extra_env`` for the rest of a run mode (the broker)."""
        inbox = inbox or tmp_path / "inbox"
        env = {"CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
               "CAREBRIDGE_CONFIG": str(channel_config(tmp_path, **options)), "CAREBRIDGE_DROP_DIR": str(inbox),
               "CAREBRIDGE_DELIVERY_LEASE_SECONDS": "3", "CAREBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5",
               # Tens of patients make twice as many Carepatron calls: over the default 60 a minute.
               "CAREPATRON_RATE_LIMIT": str(FILE_TESTS_RATE_LIMIT)}
        if database_url:
            env["CAREBRIDGE_DATABASE_URL"] = database_url
        env.update(extra_env or {})
        engine = start_engine(tmp_path, env, name=name)
        return cls(engine, inbox, database_url or f"sqlite:///{tmp_path / 'var' / 'carebridge.db'}")

    def drop(self, name: str, content: bytes, sidecar: dict | None = None) -> None:
        """Write ``content`` as ``.tmp`` then rename it, the convention senders use; the sidecar first."""
        if sidecar is not None:
            self._write(f"{name}.json", json.dumps(sidecar).encode())
        self._write(name, content)

    def _write(self, name: str, content: bytes) -> None:
        partial = self.inbox / f"{name}.tmp"
        partial.write_bytes(content)
        os.replace(partial, self.inbox / name)

    def wait_settled(self, name: str, timeout: float = 30) -> str:
        """``done`` or ``error``, once the file is there."""
        def settled():
            for where in ("done", "error"):
                if (self.inbox / where / name).exists():
                    return where
            return None
        return wait_until(settled, timeout=timeout, message=f"{name} in done/ or error/")

    def reason(self, name: str) -> str:
        return (self.inbox / "error" / f"{name}.reason").read_text()

    def search(self, resource_type: str, identifier: str) -> list[dict[str, Any]]:
        bundle = requests.get(f"{self.engine.base_url}/fhir/{resource_type}", params={"identifier": identifier},
                              timeout=10).json()
        return [entry["resource"] for entry in bundle.get("entry", [])]

    def read(self, reference: str) -> dict[str, Any]:
        response = requests.get(f"{self.engine.base_url}/fhir/{reference}", timeout=10)
        response.raise_for_status()
        return response.json()

