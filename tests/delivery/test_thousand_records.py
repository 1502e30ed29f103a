"""1,000 mixed records through the engine while the Carepatron simulator fails 30% of calls
with 5xx, bursts 429s and adds latency: each record arrives once, in its latest version,
under the right client, and every attempt is in the sync log."""

from __future__ import annotations

import signal

import pytest

from support.config import TEST_API_KEY
from delivery_config import engine_config
from engine.migrations import upgrade
from engine.runtime import build_runtime
from engine.settings import Settings
from support.engine_process import engine_env, start_worker, wait_until
from workload import Workload

#: Enough retries that a 30% failure rate never exhausts them.
RETRY = {"max_attempts": 40, "min_backoff": 0.05, "max_backoff": 0.5}
#: A test-sized breaker: it still trips on a run of failures, and pauses briefly.
BREAKER = {"failure_threshold": 15, "open_seconds": 0.5}


def hostile(simulator) -> None:
    """30% 5xx before processing, some answers lost after the change, 429 bursts, and latency."""
    simulator.faults.fail_randomly(0.3, seed=11)
    simulator.faults.fail_randomly(0.05, seed=12, phase="after", method=("POST", "PUT"))
    simulator.faults.burst_429(25, retry_after=1)
    simulator.faults.latency(3)


def config(tmp_path):
    return engine_config(tmp_path, breaker=BREAKER, **RETRY)


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_thousand_records_under_faults_arrive_once_in_their_latest_version(make_runtime, simulator, tmp_path):
    runtime = make_runtime(config(tmp_path), workers=6, CAREPATRON_RATE_LIMIT="100000")
    runtime.sweeper.start()
    hostile(simulator)
    workload = Workload()
    workload.run(runtime, halfway=lambda: simulator.faults.burst_429(25, retry_after=1))
    assert workload.writes == 1000
    wait_until(lambda: workload.all_final(runtime.database), timeout=240, interval=1, message="every delivery final")
    workload.verify(simulator, runtime.database)
    workload.verify_sync_log(runtime.database)


class _NoMapper:
    def map(self, raw, channel=None, default_charset="utf-8"):
        raise AssertionError("this test writes resources directly")


def test_thousand_records_with_two_worker_processes_one_killed_halfway(tmp_path, simulator, postgres_url, redis_url,
                                                                       queue_namespace):
    env = {"CAREBRIDGE_DATABASE_URL": postgres_url, "CAREBRIDGE_BROKER_URL": redis_url,
           "CAREBRIDGE_QUEUE_NAMESPACE": queue_namespace, "CAREBRIDGE_CONFIG": str(config(tmp_path)),
           "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
           "CAREPATRON_RATE_LIMIT": "100000", "CAREBRIDGE_WORKER_THREADS": "4",
           "CAREBRIDGE_DELIVERY_LEASE_SECONDS": "3", "CAREBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5"}
    writer = build_runtime(Settings.from_env({**env, "CAREBRIDGE_VAR_DIR": str(tmp_path / "var")}), mapper=_NoMapper())
    upgrade(writer.database)
    worker_env = engine_env(tmp_path, env)
    workers = [start_worker(tmp_path, worker_env, name="worker-1"), start_worker(tmp_path, worker_env, name="worker-2")]
    hostile(simulator)
    workload = Workload(seed=9)

    def kill_one_and_restart() -> None:
        workers[0].stop(signal.SIGKILL)
        workers.append(start_worker(tmp_path, worker_env, name="worker-3"))

    try:
        workload.run(writer, halfway=kill_one_and_restart)
        assert workers[0].process.returncode == -signal.SIGKILL
        wait_until(lambda: workload.all_final(writer.database), timeout=300, interval=1,
                   message="every delivery final")
        workload.verify(simulator, writer.database)
        workload.verify_sync_log(writer.database)
    finally:
        for worker in workers:
            worker.stop()
        writer.close()
