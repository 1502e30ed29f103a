"""1,000 mixed records through the engine while the Carepatron simulator fails 30% of calls
with 5xx, bursts 429s and adds latency: each record arrives once, in its latest version,
under the right client, and every attempt is in the sync log."""

from __future__ import annotations

import pytest

from conftest import write_test_config
from support.engine_process import wait_until
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
    path = write_test_config(tmp_path, **RETRY)
    import yaml

    data = yaml.safe_load(path.read_text())
    data["destinations"][0]["circuit_breaker"] = BREAKER
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


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
