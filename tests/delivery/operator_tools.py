"""The operator's two doors into a running engine, as a test uses them: the ``carebridge``
CLI as a process, and the admin JSON API over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys

from http_standin import Served

from support.config import ROOT
from support.engine_process import engine_env


def cli(runtime, tmp_path, *args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    env = engine_env(tmp_path, {**runtime.settings.environ, **(extra_env or {})})
    return subprocess.run([sys.executable, "-m", "carebridge.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def cli_json(runtime, tmp_path, *args: str) -> list[dict]:
    done = cli(runtime, tmp_path, *args, "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def admin_api(runtime) -> Served:
    from carebridge.app import create_app

    return Served(create_app(runtime))
