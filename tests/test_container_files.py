"""No Docker engine runs here; these check what can be checked of the Dockerfile and compose file."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from engine.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def test_compose_file_parses_and_runs_real_carebridge_commands():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "api", "mllp", "worker"} <= set(services)
    for name in ("migrate", "api", "mllp", "worker"):
        build_parser().parse_args(services[name]["command"])  # exits on an unknown command or flag
    assert services["api"]["environment"]["CAREBRIDGE_BROKER_URL"].startswith("redis://")
    assert services["worker"]["deploy"]["replicas"] >= 2


def test_dockerfile_copies_what_exists_and_runs_a_real_command():
    text = (ROOT / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        *sources, _destination = line.split()
        for source in sources:
            assert (ROOT / source).exists(), source
    entry = re.search(r'^CMD \["(\w+)"\]', text, flags=re.M).group(1)
    build_parser().parse_args([entry])
