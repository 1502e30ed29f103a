"""Files survive the engine being killed: what was in processing/ is finished after a restart,
each file and each message in it processed exactly once."""

from __future__ import annotations

import os
import signal
from collections import Counter
from datetime import timedelta

import pytest
from drop_engine import DropEngine
from sqlalchemy import create_engine, func, select, update
from sqlalchemy.orm import Session

from engine.db.models import Delivery, Message, MessageStatus, ResourceVersion, utcnow
from engine.operations.replay import STRANDED_AFTER_SECONDS
from support.engine_process import wait_until
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
#: Enough files that the kill lands while some are claimed and others not yet.
FILES = 40
#: Enough messages in one file that the kill lands part way through it.
MESSAGES_IN_FILE = 200


def rows(database_url: str, query):
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.execute(query))
    finally:
        engine.dispose()


def age_messages(database_url: str, seconds: float) -> None:
    """Make every stored message look received ``seconds`` ago (the engine was down that long)."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            session.execute(update(Message).values(received_at=utcnow() - timedelta(seconds=seconds)))
    finally:
        engine.dispose()


def file_messages(database_url: str) -> list[tuple[str, str]]:
    """(peer, status) of every HL7 message stored out of a file."""
    return [tuple(row) for row in rows(database_url, select(Message.peer, Message.status)
                                       .where(Message.peer.like("file:%")))]


def test_files_in_processing_when_killed_are_each_processed_once_after_restart(tmp_path, simulator):
    first = DropEngine.start(tmp_path, simulator)
    for number in range(FILES):
        partial = first.inbox / f"adt-{number:03}.hl7.tmp"
        partial.write_bytes(adt("A01", f"KILL-{number}", mrn=f"F-KILL-{number}"))
        os.replace(partial, first.inbox / f"adt-{number:03}.hl7")
    wait_until(lambda: any((first.inbox / "processing").iterdir()), message="a file in processing/")
    first.engine.stop(signal.SIGKILL)
    claimed = [p.name for p in (first.inbox / "processing").iterdir()]
    assert claimed, "the kill should leave a claimed file behind"

    second = DropEngine.start(tmp_path, simulator, name="engine-2")
    try:
        wait_until(lambda: len(list((second.inbox / "done").iterdir())) == FILES, timeout=60,
                   message="every file in done/")
        assert not list((second.inbox / "processing").iterdir())
        files = Counter(name for (name,) in rows(second.database_url,
                                                 select(Message.file_name).where(Message.file_name.is_not(None))))
        assert set(files.values()) == {1} and len(files) == FILES
        # The repository skips an unchanged write, so resources cannot show a second pass;
        # a message's attempts count every time the pipeline processed it.
        stored = rows(second.database_url, select(Message.peer, Message.attempts, Message.status)
                      .where(Message.peer.like("file:%")))
        assert sorted(Counter(peer.split("#")[0] for peer, _, _ in stored).values()) == [1] * FILES
        assert {(attempts, status) for _, attempts, status in stored} == {(1, MessageStatus.MAPPED)}
        [(deliveries,)] = rows(second.database_url, select(func.count()).select_from(Delivery))
        assert deliveries == FILES
        external_ids = [f"{SYSTEM}|F-KILL-{number}" for number in range(FILES)]
        clients = wait_until(lambda: (found := [c["externalId"] for c in simulator.records("clients")])
                             and len(found) >= FILES and found, timeout=60, message="every client at Carepatron")
        assert sorted(clients) == sorted(external_ids)
    finally:
        assert second.engine.stop() == 0, second.engine.log()


def test_file_stored_and_mapped_but_not_moved_is_not_processed_again(tmp_path, simulator):
    first = DropEngine.start(tmp_path, simulator)
    first.drop("once.csv", b"mrn,first_name,last_name\nF-ONCE-1,Olive,Once\n")
    assert first.wait_settled("once.csv") == "done"
    assert first.engine.stop() == 0
    # As if the engine died after committing and before the move to done/.
    os.replace(first.inbox / "done" / "once.csv", first.inbox / "processing" / "once.csv")

    second = DropEngine.start(tmp_path, simulator, name="engine-2")
    try:
        assert second.wait_settled("once.csv") == "done"
        [(stored,)] = rows(second.database_url, select(func.count()).select_from(Message)
                           .where(Message.file_name == "once.csv"))
        [(versions,)] = rows(second.database_url, select(func.count()).select_from(ResourceVersion)
                             .where(ResourceVersion.resource_type == "Patient"))
        [(deliveries,)] = rows(second.database_url, select(func.count()).select_from(Delivery))
        assert (stored, versions, deliveries) == (1, 1, 1)
    finally:
        assert second.engine.stop() == 0, second.engine.log()


def test_hl7_file_resumed_long_after_a_crash_sends_each_of_its_messages_once(tmp_path, simulator):
    first = DropEngine.start(tmp_path, simulator)
    first.drop("resumed.hl7", b"".join(adt("A01", f"RESUME-{n}", mrn=f"F-RESUME-{n}")
                                       for n in range(MESSAGES_IN_FILE)))
    wait_until(lambda: len(file_messages(first.database_url)) >= 3, message="the file's first messages")
    first.engine.stop(signal.SIGKILL)
    assert (first.inbox / "processing" / "resumed.hl7").exists()
    assert len(file_messages(first.database_url)) < MESSAGES_IN_FILE, "the kill should land inside the file"
    # The engine comes back long after the crash: everything stored is past the stranded threshold.
    age_messages(first.database_url, 10 * STRANDED_AFTER_SECONDS)

    second = DropEngine.start(tmp_path, simulator, name="engine-2")
    try:
        assert second.wait_settled("resumed.hl7", timeout=120) == "done"
        [(file_id,)] = rows(second.database_url, select(Message.id).where(Message.file_name == "resumed.hl7"))
        stored = file_messages(second.database_url)
        assert Counter(peer for peer, _ in stored) == Counter(
            f"file:{file_id}#{n}" for n in range(1, MESSAGES_IN_FILE + 1))
        assert {status for _, status in stored} == {MessageStatus.MAPPED}
        [(patients,)] = rows(second.database_url, select(func.count()).select_from(ResourceVersion)
                             .where(ResourceVersion.resource_type == "Patient"))
        assert patients == MESSAGES_IN_FILE
    finally:
        assert second.engine.stop() == 0, second.engine.log()
