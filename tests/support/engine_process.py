"""Starts ``carebridge serve`` and ``carebridge worker`` as real processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from support.ports import free_port

#: How long an engine may take to become ready.
START_TIMEOUT_SECONDS = 60


@dataclass
class EngineProcess:
    process: subprocess.Popen
    log_path: Path
    http_port: int | None = None
    mllp_port: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)


def carebridge(*args: str, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    log_file = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "carebridge.cli", *args], env=env, stdout=log_file,
                            stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])


def engine_env(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAREBRIDGE_", "CAREPATRON_"))}
    # The bundled inbox channel follows the var dir: <tmp_path>/var/inbox, not the working tree's.
    env.update({"CAREBRIDGE_VAR_DIR": str(tmp_path / "var"), "CAREBRIDGE_LOG_LEVEL": "INFO",
                # The engine binds loopback in tests; tests/access start it with authentication on.
                "CAREBRIDGE_AUTH": "off"})
    env.update(extra)
    return env


def start_engine(tmp_path: Path, extra_env: dict[str, str], *args: str, name: str = "engine") -> EngineProcess:
    """Run ``carebridge serve`` and wait for ``/readyz``."""
    http_port, mllp_port = free_port(), free_port()
    env = engine_env(tmp_path, {"CAREBRIDGE_HTTP_PORT": str(http_port), "CAREBRIDGE_MLLP_PORT": str(mllp_port),
                                **extra_env})
    log_path = tmp_path / f"{name}.log"
    engine = EngineProcess(carebridge("serve", *args, env=env, log_path=log_path), log_path, http_port, mllp_port, env)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            raise RuntimeError(f"carebridge serve exited with {engine.process.returncode}:\n{engine.log()}")
        try:
            if requests.get(engine.base_url + "/readyz", timeout=1).status_code == 200 and "ready" in engine.log():
                return engine
        except requests.RequestException:
            pass
        time.sleep(0.2)
    engine.kill()
    raise RuntimeError(f"carebridge serve did not become ready:\n{engine.log()}")


def start_worker(tmp_path: Path, env: dict[str, str], name: str = "worker") -> EngineProcess:
    """Run ``carebridge worker`` and wait until it says it is ready."""
    log_path = tmp_path / f"{name}.log"
    worker = EngineProcess(carebridge("worker", env=env, log_path=log_path), log_path, env=env)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            raise RuntimeError(f"carebridge worker exited with {worker.process.returncode}:\n{worker.log()}")
        if "worker ready" in worker.log():
            return worker
        time.sleep(0.2)
    worker.kill()
    raise RuntimeError(f"carebridge worker did not become ready:\n{worker.log()}")


def wait_until(predicate, timeout: float = 30, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
