"""Many senders at once: every message is acknowledged with its own control id, and messages
about the same new patient arriving together still make one Patient and one client."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import hl7
import pytest
import requests
from hl7.client import MLLPClient

from support.config import ROOT, TEST_API_KEY, write_test_config
from support.engine_process import engine_env, start_engine, start_worker, wait_until
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
CONNECTIONS = 20
MESSAGES_PER_CONNECTION = 5


@pytest.fixture
def running_engine(tmp_path, simulator, backend):
    env = {**backend, "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
           "CAREBRIDGE_CONFIG": str(write_test_config(tmp_path))}
    scaled = not backend["CAREBRIDGE_BROKER_URL"].startswith("memory")
    if scaled:
        subprocess.run([sys.executable, "-m", "carebridge.cli", "db", "upgrade"], env=engine_env(tmp_path, env),
                       cwd=ROOT, check=True, capture_output=True)
    engine = start_engine(tmp_path, env)
    worker = start_worker(tmp_path, engine.env) if scaled else None
    yield engine
    if worker:
        assert worker.stop() == 0, worker.log()
    assert engine.stop() == 0, engine.log()


def send_all(port: int, messages: list[bytes]) -> list[tuple[str, str]]:
    results = []
    with MLLPClient("127.0.0.1", port) as client:
        for message in messages:
            ack = hl7.parse(client.send_message(message).strip(b"\x0b\x1c\r"))
            results.append((str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])))
    return results


def test_concurrent_connections_each_get_their_own_acks(running_engine, simulator):
    batches = [[adt("A04", f"C{c}-M{m}", mrn=f"5{c:03d}", family=f"Family{c}") for m in range(MESSAGES_PER_CONNECTION)]
               for c in range(CONNECTIONS)]
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        results = list(pool.map(lambda batch: send_all(running_engine.mllp_port, batch), batches))
    for c, acks in enumerate(results):
        assert acks == [("AA", f"C{c}-M{m}") for m in range(MESSAGES_PER_CONNECTION)]
    clients = wait_until(lambda: len(simulator.records("clients")) == CONNECTIONS and simulator.records("clients"),
                         timeout=60, message="every patient at Carepatron")
    assert sorted(c["externalId"] for c in clients) == sorted(f"{SYSTEM}|5{c:03d}" for c in range(CONNECTIONS))


def test_same_new_patient_from_many_connections_at_once_is_one_patient(running_engine, simulator):
    messages = [[adt("A08", f"SAME-{c}", mrn="900900")] for c in range(CONNECTIONS)]
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        results = list(pool.map(lambda batch: send_all(running_engine.mllp_port, batch), messages))
    assert all(acks[0][0] == "AA" for acks in results)
    bundle = requests.get(f"{running_engine.base_url}/fhir/Patient",
                          params={"identifier": f"{SYSTEM}|900900"}).json()
    assert bundle["total"] == 1
    wait_until(lambda: simulator.records("clients"), message="the patient at Carepatron")
    assert len(simulator.records("clients")) == 1
