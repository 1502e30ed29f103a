"""Files survive the engine being killed: what was in processing/ is finished after a restart,
each file and each message in it processed exactly once."""

from __future__ import annotations

import os
import signal
from collections import Counter

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from drop_engine import DropEngine
from engine.models import Delivery, Message, ResourceVersion
from support.engine_process import wait_until
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

#: Enough files that the kill lands while some are claimed and others not yet.
FILES = 40


def rows(database_url: str, query):
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            return list(session.execute(query))
    finally:
        engine.dispose()


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
        messages = Counter(peer.split("#")[0] for (peer,) in rows(
            second.database_url, select(Message.peer).where(Message.peer.like("file:%"))))
        assert set(messages.values()) == {1} and len(messages) == FILES
        [(patients,)] = rows(second.database_url, select(func.count()).select_from(ResourceVersion)
                             .where(ResourceVersion.resource_type == "Patient"))
        assert patients == FILES  # one version each: nothing written twice
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
