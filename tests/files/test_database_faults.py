"""A database failure while a file is written is not the file's fault: the file stays in
processing/ and is tried again until the database answers, then filed once."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import pytest
from sqlalchemy import select

from drop_engine import DropEngine
from engine.db import normalise_url
from engine.models import Message, MessageStatus
from support.config import ROOT
from support.engine_process import engine_env, wait_until
from test_exactly_once import rows

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
#: The engine's sessions give up on a table lock after this long, so the held lock fails the write.
LOCK_TIMEOUT_MS = 300
#: How long the test keeps the resources table locked: several failed tries.
LOCKED_SECONDS = 3


def stored_statuses(postgres_url: str) -> list[str]:
    """The status of each message stored for the test's file."""
    return [status for (status,) in rows(normalise_url(postgres_url),
                                         select(Message.status).where(Message.file_name == "locked.csv"))]


def test_file_whose_write_fails_on_a_database_lock_stays_in_processing_then_is_filed_once(tmp_path, simulator,
                                                                                         postgres_url):
    database_url = f"{postgres_url}?options=-c%20lock_timeout%3D{LOCK_TIMEOUT_MS}"
    upgrade = subprocess.run([sys.executable, "-m", "engine.cli", "db", "upgrade"], cwd=ROOT, capture_output=True,
                             text=True, env=engine_env(tmp_path, {"CAREBRIDGE_DATABASE_URL": postgres_url}))
    assert upgrade.returncode == 0, upgrade.stderr
    running = DropEngine.start(tmp_path, simulator, database_url=database_url)
    try:
        with psycopg.connect(postgres_url) as blocker:
            # Reads go on; every write of a resource waits for the lock and times out.
            blocker.execute("LOCK TABLE resources IN EXCLUSIVE MODE")
            running.drop("locked.csv", b"mrn,first_name,last_name\nF-LOCKED-1,Lo,Cked\n")
            wait_until(lambda: stored_statuses(postgres_url), message="the file stored")
            time.sleep(LOCKED_SECONDS)
            assert (running.inbox / "processing" / "locked.csv").exists()
            assert not (running.inbox / "error" / "locked.csv").exists()
            blocker.rollback()
        assert running.wait_settled("locked.csv") == "done"
        assert running.search("Patient", f"{SYSTEM}|F-LOCKED-1")
        assert stored_statuses(postgres_url) == [MessageStatus.MAPPED]
        assert "the file stays in processing/" in running.engine.log()
    finally:
        assert running.engine.stop() == 0, running.engine.log()
