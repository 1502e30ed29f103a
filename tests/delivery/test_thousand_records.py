"""1,000 mixed records through the engine while the Carepatron simulator fails 30% of calls
with 5xx, bursts 429s, holds a tenth of its answers for hundreds of milliseconds and lets a
few requests time out: each record arrives once, in its latest version, under the right
client, and every request the simulator saw is an attempt in the sync log."""

from __future__ import annotations

import signal

import pytest
from delivery_config import engine_config
from workload import Workload, verify_traffic

from carebridge.runtime import build_runtime
from engine.config.environment import Settings
from engine.db.migrations import upgrade
from engine.db.models import SyncLogEntry
from support.config import TEST_API_KEY
from support.engine_process import engine_env, start_worker

#: Enough retries that a 30% failure rate never exhausts them.
RETRY = {"max_attempts": 40, "min_backoff": 0.05, "max_backoff": 0.5}
#: A test-sized breaker: it still trips on a run of failures, and pauses briefly.
BREAKER = {"failure_threshold": 15, "open_seconds": 0.5}
#: The engine's read time-out for Carepatron in this test (seconds): short, so held requests time out.
CLIENT_TIMEOUT = 2.0
#: Delivery lease (seconds): longer than an attempt that meets a time-out and some latency.
LEASE_SECONDS = "8"
#: A tenth of the requests are held this long (ms).
SLOW_MS, SLOW_SHARE = 300, 0.1
#: Requests held past the client's time-out, and requests whose connection is closed unanswered.
TIMED_OUT, DROPPED = 4, 6
#: 429s in each of the two bursts.
BURST = 25


def hostile(simulator) -> None:
    """30% 5xx before processing, some answers lost after the change, 429 bursts, latency, time-outs."""
    simulator.faults.fail_randomly(0.3, seed=11)
    simulator.faults.fail_randomly(0.05, seed=12, phase="after", method=("POST", "PUT"))
    simulator.faults.burst_429(BURST, retry_after=1)
    simulator.faults.latency(SLOW_MS, fraction=SLOW_SHARE, seed=13)
    simulator.faults.latency(int(CLIENT_TIMEOUT * 1000) + 500, count=TIMED_OUT)
    simulator.faults.timeout(0.2, count=DROPPED)


def config(tmp_path):
    return engine_config(tmp_path, breaker=BREAKER, carepatron={"timeout_seconds": CLIENT_TIMEOUT}, **RETRY)


def verify_faults_fired(simulator, database) -> dict[str, int]:
    seen = verify_traffic(simulator, database)
    assert 0.25 <= seen["5xx"] / seen["requests"] <= 0.45, seen
    assert seen["429"] >= BURST, seen
    assert seen["dropped"] >= DROPPED, seen
    assert seen["slow"] >= 0.05 * seen["requests"], seen
    return seen


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_thousand_records_under_faults_arrive_once_in_their_latest_version(make_runtime, simulator, tmp_path):
    runtime = make_runtime(config(tmp_path), workers=6, CAREPATRON_RATE_LIMIT="100000",
                           CAREBRIDGE_DELIVERY_LEASE_SECONDS=LEASE_SECONDS)
    runtime.sweeper.start()
    hostile(simulator)
    workload = Workload()
    workload.run(runtime, halfway=lambda: simulator.faults.burst_429(25, retry_after=1))
    assert workload.writes == 1000
    workload.wait_all_final(runtime.database, timeout=240)
    workload.verify(simulator, runtime.database)
    workload.verify_sync_log(runtime.database)
    verify_faults_fired(simulator, runtime.database)


class _NoMapper:
    def map(self, raw, channel=None, default_charset="utf-8", header=None):
        raise AssertionError("this test writes resources directly")


def test_thousand_records_with_two_worker_processes_one_killed_halfway(tmp_path, simulator, postgres_url, redis_url,
                                                                       queue_namespace):
    env = {"CAREBRIDGE_DATABASE_URL": postgres_url, "CAREBRIDGE_BROKER_URL": redis_url,
           "CAREBRIDGE_QUEUE_NAMESPACE": queue_namespace, "CAREBRIDGE_CONFIG": str(config(tmp_path)),
           "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
           "CAREPATRON_RATE_LIMIT": "100000", "CAREBRIDGE_WORKER_THREADS": "4",
           "CAREBRIDGE_DELIVERY_LEASE_SECONDS": LEASE_SECONDS, "CAREBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5"}
    writer = build_runtime(Settings.from_env({**env, "CAREBRIDGE_VAR_DIR": str(tmp_path / "var")}), mapper=_NoMapper())
    upgrade(writer.database)
    worker_env = engine_env(tmp_path, env)
    workers = [start_worker(tmp_path, worker_env, name="worker-1"), start_worker(tmp_path, worker_env, name="worker-2")]
    hostile(simulator)
    workload = Workload(seed=9)

    def kill_one_and_restart() -> None:
        # Hold the next answers so that more requests are in flight than one worker has threads:
        # the worker killed then surely dies in the middle of deliveries.
        hold = simulator.faults.latency(800, count=20)
        simulator.wait_for_in_flight(int(env["CAREBRIDGE_WORKER_THREADS"]) + 1, timeout=30)
        workers[0].stop(signal.SIGKILL)
        simulator.faults.remove(hold)
        workers.append(start_worker(tmp_path, worker_env, name="worker-3"))

    try:
        workload.run(writer, halfway=kill_one_and_restart)
        assert workers[0].process.returncode == -signal.SIGKILL
        workload.wait_all_final(writer.database, timeout=300)
        workload.verify(simulator, writer.database)
        workload.verify_sync_log(writer.database)
        verify_faults_fired(simulator, writer.database)
        with writer.database.read() as session:
            lost = session.query(SyncLogEntry).filter(SyncLogEntry.details.like("%worker went away%")).all()
        assert lost, "the killed worker held deliveries: their attempts are logged as lost"
    finally:
        for worker in workers:
            worker.stop()
        writer.close()
