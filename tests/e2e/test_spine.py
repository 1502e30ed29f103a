"""The spine end to end: HL7 v2 over MLLP into `carebridge serve`, out to the Carepatron
simulator, on the embedded default and on PostgreSQL + Redis with separate workers."""

from __future__ import annotations

import signal
import subprocess
import sys

import hl7
import pytest
import requests
from hl7.client import MLLPClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from engine.db.database import normalise_url
from engine.db.models import Delivery
from support.config import ROOT, TEST_API_KEY, write_test_config
from support.engine_process import engine_env, start_engine, start_worker, wait_until
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def send(port: int, message: bytes) -> hl7.Message:
    with MLLPClient("127.0.0.1", port) as client:
        return hl7.parse(client.send_message(message).strip(b"\x0b\x1c\r"))


def msa(ack: hl7.Message) -> tuple[str, str]:
    segment = ack.segment("MSA")
    return str(segment[1]), str(segment[2])


def deliveries(database_url: str) -> list[Delivery]:
    engine = create_engine(normalise_url(database_url))
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))
    finally:
        engine.dispose()


def all_delivered(database_url: str, count: int) -> bool:
    found = deliveries(database_url)
    return len(found) >= count and all(d.status in ("delivered", "superseded") for d in found)


def engine_settings(tmp_path, simulator, extra=None) -> dict[str, str]:
    return {"CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
            "CAREBRIDGE_CONFIG": str(write_test_config(tmp_path)),
            "CAREBRIDGE_DELIVERY_LEASE_SECONDS": "3", "CAREBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5", **(extra or {})}


def assert_one_client_with_a08_changes(simulator):
    def settled():
        clients = simulator.records("clients")
        return clients if clients and clients[-1]["lastName"] == "Newname" else None

    clients = wait_until(settled, timeout=30, message="the A08's changes at Carepatron")
    assert len(clients) == 1
    assert clients[0]["email"] == "new@example.org"
    assert clients[0]["externalId"] == f"{SYSTEM}|100001"


def a01_then_a08(mllp_port: int) -> None:
    assert msa(send(mllp_port, adt("A01", "CTRL-A01"))) == ("AA", "CTRL-A01")
    assert msa(send(mllp_port, adt("A08", "CTRL-A08", family="Newname", email="new@example.org"))) == ("AA", "CTRL-A08")


def test_embedded_a01_then_a08_make_one_client_with_the_latest_changes(tmp_path, simulator):
    engine = start_engine(tmp_path, engine_settings(tmp_path, simulator))
    try:
        a01_then_a08(engine.mllp_port)
        assert_one_client_with_a08_changes(simulator)
        bundle = requests.get(f"{engine.base_url}/fhir/Patient", params={"identifier": f"{SYSTEM}|100001"}).json()
        assert bundle["total"] == 1
        assert bundle["entry"][0]["resource"]["meta"]["versionId"] == "2"
    finally:
        assert engine.stop() == 0, engine.log()
    # Logs carry ids and codes, never the patient's name, e-mail or birth date.
    for phi in ("Testperson", "Newname", "ada@example.org", "new@example.org", "19800214", "1980-02-14"):
        assert phi not in engine.log()


def test_scaled_a01_then_a08_with_a_separate_worker(tmp_path, simulator, postgres_url, redis_url, queue_namespace):
    scaled = {"CAREBRIDGE_DATABASE_URL": postgres_url, "CAREBRIDGE_BROKER_URL": redis_url,
              "CAREBRIDGE_QUEUE_NAMESPACE": queue_namespace}
    env = engine_settings(tmp_path, simulator, scaled)
    upgrade = subprocess.run([sys.executable, "-m", "carebridge.cli", "db", "upgrade"], env=engine_env(tmp_path, env),
                             cwd=ROOT, capture_output=True, text=True)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = start_engine(tmp_path, env)
    worker = start_worker(tmp_path, engine.env)
    try:
        a01_then_a08(engine.mllp_port)
        assert_one_client_with_a08_changes(simulator)
        wait_until(lambda: all_delivered(postgres_url, 2), message="both deliveries final")
    finally:
        assert worker.stop() == 0, worker.log()
        assert engine.stop() == 0, engine.log()


def test_scaled_worker_killed_mid_delivery_completes_without_duplicate(tmp_path, simulator, postgres_url, redis_url,
                                                                       queue_namespace):
    scaled = {"CAREBRIDGE_DATABASE_URL": postgres_url, "CAREBRIDGE_BROKER_URL": redis_url,
              "CAREBRIDGE_QUEUE_NAMESPACE": queue_namespace}
    env = engine_settings(tmp_path, simulator, scaled)
    subprocess.run([sys.executable, "-m", "carebridge.cli", "db", "upgrade"], env=engine_env(tmp_path, env), cwd=ROOT,
                   check=True, capture_output=True)
    engine = start_engine(tmp_path, env)
    worker = start_worker(tmp_path, engine.env)
    try:
        # Carepatron creates the client, then takes 3 s to answer: the worker dies in between.
        simulator.faults.latency(3000, phase="after", method="POST", path="/clients", count=1)
        assert msa(send(engine.mllp_port, adt("A01", "CTRL-KILL")))[0] == "AA"
        simulator.wait_for_in_flight(1, timeout=20)
        worker.stop(signal.SIGKILL)
        wait_until(lambda: simulator.in_flight == 0, timeout=10, message="the POST to finish at Carepatron")
        assert len(simulator.records("clients")) == 1
        replacement = start_worker(tmp_path, engine.env, name="worker-2")
        try:
            wait_until(lambda: all_delivered(postgres_url, 1), timeout=30, message="delivery after restart")
        finally:
            replacement.stop()
        assert len(simulator.records("clients")) == 1
        [delivery] = deliveries(postgres_url)
        assert delivery.attempts == 2 and delivery.remote_id == simulator.records("clients")[0]["id"]
    finally:
        worker.stop()
        engine.stop()


def test_embedded_engine_killed_mid_delivery_completes_after_restart(tmp_path, simulator):
    env = engine_settings(tmp_path, simulator)
    engine = start_engine(tmp_path, env)
    database_url = f"sqlite:///{tmp_path / 'var' / 'carebridge.db'}"
    try:
        simulator.faults.latency(3000, phase="after", method="POST", path="/clients", count=1)
        assert msa(send(engine.mllp_port, adt("A01", "CTRL-KILL")))[0] == "AA"
        simulator.wait_for_in_flight(1, timeout=20)
        engine.stop(signal.SIGKILL)
        wait_until(lambda: simulator.in_flight == 0, timeout=10, message="the POST to finish at Carepatron")
        restarted = start_engine(tmp_path, env, name="engine-2")
        try:
            wait_until(lambda: all_delivered(database_url, 1), timeout=30, message="delivery after restart")
        finally:
            restarted.stop()
        assert len(simulator.records("clients")) == 1
    finally:
        engine.stop()
