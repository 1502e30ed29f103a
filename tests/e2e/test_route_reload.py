"""An integrator edits the routes in config/engine.yaml while the engine runs, here split into a
`carebridge serve` that plans deliveries and a `carebridge worker` that sends them: the next
resource is routed and transformed the new way, with no restart of either."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import requests
import yaml

from support.config import ROOT, TEST_API_KEY, write_test_config
from support.engine_process import engine_env, start_engine, start_worker, wait_until

pytestmark = pytest.mark.e2e

#: How often the engine and the worker look at their config file here (seconds).
RELOAD_SECONDS = "0.3"
#: How long after an edit the engine is given to apply it: the file is seen, then seen again
#: unchanged at least half a second later (foundation/settled_edits.py).
EDIT_SETTLES_SECONDS = 2.0


def add_patient(engine, mrn: str) -> str:
    answer = requests.post(f"{engine.base_url}/fhir/Patient", json={
        "resourceType": "Patient", "identifier": [{"system": "urn:test:mrn", "value": mrn}],
        "name": [{"family": "Routed", "given": ["Rae"]}]}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def dropped(out, patient_id: str) -> dict | None:
    path = out / "Patient" / f"{patient_id}.json"
    return json.loads(path.read_text()) if path.exists() else None


def tags(content: dict) -> list[str]:
    resource = content.get("resource", content)
    return [t["code"] for t in (resource.get("meta") or {}).get("tag") or []]


def edit_route(config, **changes) -> None:
    data = yaml.safe_load(config.read_text())
    route = next(r for r in data["routes"] if r["name"] == "to-files")
    route.update(changes)
    edited = config.with_suffix(".edited")
    edited.write_text(yaml.safe_dump(data, sort_keys=False))
    edited.replace(config)                    # as an editor saves: the engine never reads half a file
    time.sleep(EDIT_SETTLES_SECONDS)


def test_an_edited_or_disabled_route_takes_effect_in_a_running_engine_and_worker(
        tmp_path, simulator, postgres_url, redis_url, queue_namespace):
    out = tmp_path / "out"
    config = write_test_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["destinations"].append({"name": "files", "type": "file", "directory": str(out), "format": "json"})
    data["routes"].append({"name": "to-files", "match": {"resource_types": ["Patient"]},
                           "transform": {"tags": [{"code": "first-edition"}]}, "destinations": ["files"]})
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    env = {"CAREBRIDGE_DATABASE_URL": postgres_url, "CAREBRIDGE_BROKER_URL": redis_url,
           "CAREBRIDGE_QUEUE_NAMESPACE": queue_namespace, "CAREBRIDGE_CONFIG": str(config),
           "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
           "CAREBRIDGE_CONFIG_RELOAD_SECONDS": RELOAD_SECONDS}
    upgrade = subprocess.run([sys.executable, "-m", "carebridge.cli", "db", "upgrade"], env=engine_env(tmp_path, env),
                             cwd=ROOT, capture_output=True, text=True)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = start_engine(tmp_path, env, "--no-workers")
    worker = start_worker(tmp_path, engine_env(tmp_path, env))
    try:
        first = add_patient(engine, "RR-1")
        assert tags(wait_until(lambda: dropped(out, first), message="the first patient in the drop folder")) == [
            "first-edition"]

        edit_route(config, transform={"tags": [{"code": "second-edition"}]})
        second = add_patient(engine, "RR-2")
        assert tags(wait_until(lambda: dropped(out, second), message="the second patient")) == ["second-edition"]

        edit_route(config, enabled=False)
        third = add_patient(engine, "RR-3")
        wait_until(lambda: len(simulator.records("clients")) == 3, message="the third patient at Carepatron")
        time.sleep(1)
        assert dropped(out, third) is None      # the disabled route planned nothing for the files
    finally:
        assert worker.stop() == 0, worker.log()
        assert engine.stop() == 0, engine.log()
