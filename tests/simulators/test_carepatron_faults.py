"""The Carepatron simulator fails on demand, in-process and when driven over HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import pytest
import requests

from simulators.carepatron import CarepatronSimulator
from support.engine_process import wait_until

KEY = "test-key"
AUTH = {"cp-api-key": KEY}
ADA = {"firstName": "Ada", "lastName": "Lovelace", "externalId": "urn:mrn|1"}


@pytest.fixture
def sim():
    with CarepatronSimulator(api_key=KEY) as simulator:
        yield simulator


def post_client(sim, body=ADA, timeout=5):
    return requests.post(sim.base_url + "/clients", json=body, headers=AUTH, timeout=timeout)


def in_background(call):
    """Run ``call`` in a thread; the returned list receives its result or exception."""
    outcome = []

    def run():
        try:
            outcome.append(call())
        except Exception as error:  # the test inspects it
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_scripted_503s_answer_then_the_request_succeeds(sim):
    sim.faults.fail_next(3, status=503, method="POST", path="/clients")
    statuses = [post_client(sim).status_code for _ in range(4)]
    assert statuses == [503, 503, 503, 201]
    assert len(sim.records("clients")) == 1


def test_scripted_fault_leaves_other_methods_and_paths_alone(sim):
    sim.faults.fail_next(1, status=503, method="POST", path="/appointments")
    assert post_client(sim).status_code == 201
    assert requests.get(sim.base_url + "/clients", headers=AUTH).status_code == 200
    assert len(sim.faults.rules()) == 1


def test_429_burst_tells_when_to_retry(sim):
    sim.faults.burst_429(2, retry_after=7)
    first, second, third = (post_client(sim, {**ADA, "externalId": str(n)}) for n in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert second.status_code == 429
    assert third.status_code == 201


def test_rate_limit_per_key_answers_429_with_retry_after():
    with CarepatronSimulator(api_key=KEY, rate_limit=2) as sim:
        statuses = [requests.get(sim.base_url + "/clients", headers=AUTH).status_code
                    for _ in range(2)]
        over = requests.get(sim.base_url + "/clients", headers=AUTH)
    assert statuses == [200, 200]
    assert over.status_code == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 60


def test_random_faults_repeat_with_the_same_seed():
    def statuses(seed):
        with CarepatronSimulator(api_key=KEY) as sim:
            sim.faults.fail_randomly(0.5, seed=seed)
            return [requests.get(sim.base_url + "/ping").status_code for _ in range(20)]

    first = statuses(7)
    assert first == statuses(7)
    assert set(first) > {200} and set(first) <= {200, 500, 502, 503}


def test_latency_before_holds_the_request(sim):
    sim.faults.latency(ms=300)
    started = time.monotonic()
    requests.get(sim.base_url + "/ping")
    assert time.monotonic() - started >= 0.3


def test_latency_with_a_fraction_holds_only_that_share_of_requests(sim):
    sim.faults.latency(ms=200, fraction=0.25, seed=3)
    for _ in range(40):
        requests.get(sim.base_url + "/clients", headers=AUTH)
    held = [entry for entry in sim.requests() if entry["durationMs"] >= 200]
    assert 4 <= len(held) <= 16


def test_latency_after_stores_the_record_before_answering(sim):
    sim.faults.latency(ms=1000, phase="after", method="POST")
    thread, outcome = in_background(lambda: post_client(sim))
    sim.wait_for_in_flight(1)
    deadline = time.monotonic() + 2
    while not sim.records("clients") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(sim.records("clients")) == 1
    assert sim.in_flight == 1 and not outcome
    thread.join()
    assert outcome[0].status_code == 201


def test_timeout_holds_then_closes_without_an_answer(sim):
    sim.faults.timeout(0.3, count=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(sim.base_url + "/ping", timeout=5)
    # The client sees the connection drop before the server thread logs it: wait for the log.
    logged = wait_until(lambda: sim.requests(), timeout=5, message="the dropped request in the log")
    assert logged[-1]["status"] is None
    assert requests.get(sim.base_url + "/ping").status_code == 200


def test_timeout_after_the_state_change_loses_only_the_answer(sim):
    sim.faults.timeout(0.2, phase="after", method="POST", count=1)
    with pytest.raises(requests.ConnectionError):
        post_client(sim)
    assert post_client(sim).json()["existingId"] == sim.records("clients")[0]["id"]


def test_held_requests_are_let_go_when_the_simulator_stops():
    sim = CarepatronSimulator(api_key=KEY).start()
    sim.faults.timeout(30)
    thread, _ = in_background(lambda: requests.get(sim.base_url + "/ping", timeout=10))
    sim.wait_for_in_flight(1)
    started = time.monotonic()
    sim.stop()
    thread.join(5)
    assert time.monotonic() - started < 5 and not thread.is_alive()


def test_rejected_kind_is_refused_until_lifted(sim):
    sim.faults.reject("clients")
    refused = post_client(sim)
    assert refused.status_code == 422
    assert refused.headers["Content-Type"] == "application/problem+json"
    sim.faults.lift("clients")
    assert post_client(sim).status_code == 201


def test_request_log_names_no_key_no_body_and_no_query_value(sim):
    post_client(sim)
    requests.get(sim.base_url + "/clients", params={"email": "ada@example.org"}, headers=AUTH)
    log = sim.requests()
    assert [(entry["method"], entry["path"], entry["status"]) for entry in log] == [
        ("POST", "/v1/clients", 201), ("GET", "/v1/clients", 200)]
    assert log[1]["query"] == ["email"]
    text = repr(log)
    assert KEY not in text and "Lovelace" not in text and "example.org" not in text


def test_faults_are_driven_over_http(sim):
    control = sim.control_url
    created = requests.post(control + "/faults",
                            json={"fault": "fail_next", "count": 1, "status": 502,
                                  "headers": {"Retry-After": "2"}})
    assert created.status_code == 201
    assert requests.get(control + "/state").json()["faults"][0]["id"] == created.json()["id"]
    failed = post_client(sim)
    assert (failed.status_code, failed.headers["Retry-After"]) == (502, "2")
    requests.post(control + "/faults", json={"fault": "reject", "kind": "clients"})
    requests.delete(control + "/faults")
    assert post_client(sim).status_code == 201


def test_bad_fault_request_over_http_is_refused(sim):
    response = requests.post(sim.control_url + "/faults", json={"fault": "latency", "secs": 1})
    assert response.status_code == 400


def test_state_records_and_log_are_read_over_http(sim):
    post_client(sim)
    state = requests.get(sim.control_url + "/state").json()
    assert state["counts"]["clients"] == 1 and state["inFlight"] == 0
    items = requests.get(sim.control_url + "/records/clients").json()["items"]
    assert items == sim.records("clients")
    assert len(requests.get(sim.control_url + "/requests").json()["items"]) == 1


def test_rate_limit_is_set_over_http(sim):
    requests.put(sim.control_url + "/rate-limit", json={"perMinute": 1})
    requests.get(sim.base_url + "/clients", headers=AUTH)
    assert requests.get(sim.base_url + "/clients", headers=AUTH).status_code == 429


def test_reset_over_http_forgets_records_faults_and_log(sim):
    post_client(sim)
    sim.faults.fail_next(5)
    assert requests.post(sim.control_url + "/reset").status_code == 204
    assert sim.records("clients") == [] and sim.faults.rules() == [] and sim.requests() == []


def test_command_line_serves_on_the_port_it_prints():
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.carepatron", "--port", "0", "--api-key", KEY],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        base_url = re.search(r"http://\S+/v1", process.stdout.readline()).group(0)
        response = requests.get(base_url + "/clients", headers=AUTH, timeout=5)
        assert response.json() == {"items": [], "nextCursor": None}
    finally:
        process.terminate()
        process.wait(10)
