"""A database failure while a file is written is not the file's fault: the file stays in
processing/ and is tried again until the database answers, then filed once. An HL7 file
resumes at the message that failed."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import pytest
from drop_engine import DropEngine
from sqlalchemy import select
from test_exactly_once import rows

from engine.db.database import normalise_url
from engine.db.models import Message, MessageStatus
from support.config import ROOT
from support.engine_process import engine_env, wait_until
from support.hl7_messages import adt

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


def start_with_lock_timeout(tmp_path, simulator, postgres_url: str) -> DropEngine:
    """An engine on ``postgres_url`` whose sessions give up on a held lock after ``LOCK_TIMEOUT_MS``."""
    upgrade = subprocess.run([sys.executable, "-m", "carebridge.cli", "db", "upgrade"], cwd=ROOT, capture_output=True,
                             text=True, env=engine_env(tmp_path, {"CAREBRIDGE_DATABASE_URL": postgres_url}))
    assert upgrade.returncode == 0, upgrade.stderr
    return DropEngine.start(tmp_path, simulator,
                            database_url=f"{postgres_url}?options=-c%20lock_timeout%3D{LOCK_TIMEOUT_MS}")


def messages_of_file(postgres_url: str, file_name: str) -> list[tuple[str, str, object]]:
    """Peer, status and processed time of each HL7 message stored out of the file ``file_name``."""
    url = normalise_url(postgres_url)
    files = rows(url, select(Message.id).where(Message.file_name == file_name))
    if not files:
        return []
    return [tuple(row) for row in rows(url, select(Message.peer, Message.status, Message.processed_at)
                                       .where(Message.peer.like(f"file:{files[0][0]}#%")).order_by(Message.peer))]


def test_file_whose_write_fails_on_a_database_lock_stays_in_processing_then_is_filed_once(tmp_path, simulator,
                                                                                         postgres_url):
    running = start_with_lock_timeout(tmp_path, simulator, postgres_url)
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


def test_hl7_file_whose_third_message_fails_on_a_database_lock_resumes_at_that_message(tmp_path, simulator,
                                                                                      postgres_url):
    running = start_with_lock_timeout(tmp_path, simulator, postgres_url)
    try:
        running.drop("known.hl7", adt("A01", "K-1", mrn="F-KNOWN-1", family="Before"))
        assert running.wait_settled("known.hl7") == "done"
        [known] = running.search("Patient", f"{SYSTEM}|F-KNOWN-1")
        with psycopg.connect(postgres_url) as blocker:
            # Only the known patient's row is held: the first two messages write, the third waits and times out.
            blocker.execute("SELECT 1 FROM resources WHERE resource_type = 'Patient' AND id = %s FOR UPDATE",
                            (known["id"],))
            running.drop("several.hl7", adt("A01", "S-1", mrn="F-SEVERAL-1") + adt("A08", "S-2", mrn="F-SEVERAL-1")
                         + adt("A08", "S-3", mrn="F-KNOWN-1", family="After"))
            wait_until(lambda: [status for _, status, _ in messages_of_file(postgres_url, "several.hl7")]
                       == [MessageStatus.MAPPED, MessageStatus.MAPPED, MessageStatus.RECEIVED],
                       message="the first two messages mapped, the third stored")
            time.sleep(LOCKED_SECONDS)
            assert (running.inbox / "processing" / "several.hl7").exists()
            assert not (running.inbox / "error" / "several.hl7").exists()
            before = messages_of_file(postgres_url, "several.hl7")
            blocker.rollback()
        assert running.wait_settled("several.hl7") == "done"
        after = messages_of_file(postgres_url, "several.hl7")
        assert [peer.rsplit("#", 1)[1] for peer, _, _ in after] == ["1", "2", "3"]
        assert [status for _, status, _ in after] == [MessageStatus.MAPPED] * 3
        assert after[:2] == before[:2]  # not processed again
        assert running.read(f"Patient/{known['id']}")["name"][0]["family"] == "After"
        assert running.search("Patient", f"{SYSTEM}|F-SEVERAL-1")
        assert "the file stays in processing/" in running.engine.log()
    finally:
        assert running.engine.stop() == 0, running.engine.log()
