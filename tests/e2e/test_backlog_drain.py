"""Issue 12, item 4: a backlog of 135 records of five kinds drains within three minutes of the
last ACK against a Carepatron that answers every 7th request 429, fails 30% with 5xx and adds
50 ms, on PostgreSQL + Redis with two worker processes, one of them killed with SIGKILL midway."""

from __future__ import annotations

import pytest
from backlog_mix import run

pytestmark = pytest.mark.e2e

#: Seconds from the last ACK within which every record must be at Carepatron.
DEADLINE_SECONDS = 180


def test_a_backlog_under_faults_and_a_killed_worker_arrives_once_in_its_latest_version(
        tmp_path, simulator, postgres_url, redis_url, queue_namespace):
    backlog, figures = run(tmp_path, simulator, postgres_url, redis_url, queue_namespace, DEADLINE_SECONDS)
    print(figures.line())
    backlog.verify(simulator)
    assert figures.last_ack_to_all_delivered <= DEADLINE_SECONDS
