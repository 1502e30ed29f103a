"""The `carebridge` command as an operator or integrator runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests

from support.config import ROOT
from support.engine_process import engine_env, start_engine
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e


def carebridge(tmp_path, *args, env=None):
    return subprocess.run([sys.executable, "-m", "carebridge.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env=engine_env(tmp_path, env or {}), timeout=120)


def test_map_prints_one_collection_bundle_per_message_and_fails_on_the_unmappable(tmp_path):
    good = tmp_path / "good.hl7"
    good.write_bytes(adt("A01", "C1") + adt("A08", "C2", family="Second"))
    bad = tmp_path / "bad.hl7"
    bad.write_bytes(b"this is not HL7")
    result = carebridge(tmp_path, "map", str(good), str(bad))
    assert result.returncode == 1
    bundles = [json.loads(line) for line in result.stdout.splitlines()]
    assert [b["type"] for b in bundles] == ["collection", "collection"]
    families = [e["resource"]["name"][0]["family"] for b in bundles for e in b["entry"]
                if e["resource"]["resourceType"] == "Patient"]
    assert families == ["Testperson", "Second"]
    assert "bad.hl7: message 1: MSH" in result.stderr


def test_engine_refuses_to_start_on_a_bad_config_naming_file_line_and_path(tmp_path):
    config = tmp_path / "engine.yaml"
    config.write_text("channels:\n  - name: mllp\n    type: carrier-pigeon\n")
    result = carebridge(tmp_path, "serve", env={"CAREBRIDGE_CONFIG": str(config)})
    assert result.returncode == 2
    assert f"{config}:3: channels.0.type:" in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path):
    database = tmp_path / "fresh.db"
    result = carebridge(tmp_path, "db", "upgrade", env={"CAREBRIDGE_DATABASE_URL": f"sqlite:///{database}"})
    assert result.returncode == 0, result.stderr
    assert "database schema at revision" in result.stdout


def test_readyz_reports_database_and_broker(tmp_path):
    # With authentication on, this machine is a scraper network: /readyz answers without a token.
    engine = start_engine(tmp_path, {"CAREBRIDGE_AUTH": "on"})
    try:
        body = requests.get(engine.base_url + "/readyz").json()
        assert body == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
        assert requests.get(engine.base_url + "/healthz").json() == {"status": "ok"}
    finally:
        assert engine.stop() == 0


def test_readyz_is_503_when_the_broker_is_unreachable(tmp_path):
    # Nothing listens on port 9 (discard): the Redis broker cannot be reached.
    from carebridge.app import create_app
    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings

    settings = Settings.from_env({"CAREBRIDGE_VAR_DIR": str(tmp_path / "var"),
                                  "CAREBRIDGE_BROKER_URL": "redis://127.0.0.1:9/0"})
    runtime = build_runtime(settings)
    response = create_app(runtime).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["broker"].startswith("unavailable")


def test_a_port_that_is_not_a_number_is_a_configuration_error_naming_the_variable(tmp_path):
    result = carebridge(tmp_path, "serve", env={"CAREBRIDGE_HTTP_PORT": "abc"})
    assert result.returncode == 2
    assert "configuration error:\nenvironment: CAREBRIDGE_HTTP_PORT: 'abc' is not a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_refuses_a_route_whose_fhirpath_does_not_compile(tmp_path):
    config = tmp_path / "engine.yaml"
    config.write_text("destinations:\n  - name: d\n    type: file\n    directory: out\nroutes:\n  - name: r\n"
                      "    destinations: [d]\n    match:\n      where: \"birthDate <\"\n")
    result = carebridge(tmp_path, "config", "check", env={"CAREBRIDGE_CONFIG": str(config)})
    assert result.returncode == 2, result.stdout
    assert f"{config}:9: routes.0.match.where: not valid FHIRPath" in result.stderr
