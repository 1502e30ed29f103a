"""No Docker engine runs here; these check what can be checked of the Dockerfile and compose file."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from carebridge.cli.main import build_parser
from engine.config.engine_config import load_engine_config

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


def _dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    block = re.search(r"^ENV (.+?)(?<!\\)$", text, flags=re.M | re.S).group(1)
    return dict(re.findall(r"(\w+)=(\S+)", block))


def _carebridge_services() -> dict[str, dict]:
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    return {name: service for name, service in services.items() if service.get("image") == "carebridge:latest"}


def test_bundled_inbox_lies_in_the_var_dir_the_image_gives_its_user():
    env = _dockerfile_env()
    var_dir = Path(env["CAREBRIDGE_VAR_DIR"])
    text = (ROOT / "Dockerfile").read_text()
    assert f"chown -R carebridge {var_dir}" in text
    inbox = Path(load_engine_config(ROOT / "config" / "engine.yaml", environ=env).channel("inbox").options["directory"])
    assert inbox.is_relative_to(var_dir), inbox


def test_only_services_serving_http_inherit_the_images_healthz_check():
    assert "8080/healthz" in (ROOT / "Dockerfile").read_text()
    for name, service in _carebridge_services().items():
        if name == "migrate":
            continue
        args = build_parser().parse_args(service["command"])
        if args.command == "serve" and args.http:
            assert "healthcheck" not in service, name
        else:
            check = service.get("healthcheck")
            assert check, f"{name} would inherit the /healthz check and never be healthy"
            assert check.get("disable") or "8080" not in " ".join(check["test"]), name


def test_exactly_one_service_watches_the_file_channels():
    watching = [name for name, service in _carebridge_services().items()
                if (args := build_parser().parse_args(service["command"])).command == "serve" and args.files]
    assert len(watching) == 1, watching


def test_dockerfile_copies_every_product_package():
    from support.import_rules import LAYERS

    copied = {line.split()[0] for line in re.findall(r"^COPY (.+)$", (ROOT / "Dockerfile").read_text(), flags=re.M)}
    assert set(LAYERS) <= copied


def test_compose_publishes_on_loopback_and_keeps_secrets_in_the_environment():
    text = (ROOT / "compose.yaml").read_text()
    services = yaml.safe_load(text)["services"]
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published and all(port.startswith("${CAREBRIDGE_PUBLISH_ADDRESS:-127.0.0.1}:") for port in published)
    environments = [service.get("environment") or {} for service in services.values()]
    assert all("CAREBRIDGE_AUTH" not in env for env in environments)  # authentication stays on in every container
    assert ":carebridge@" not in text and "POSTGRES_PASSWORD: carebridge" not in text
    assert "${POSTGRES_PASSWORD:?" in services["postgres"]["environment"]["POSTGRES_PASSWORD"]
