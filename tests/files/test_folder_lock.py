"""One engine process at a time works a drop folder: a second one started on the same folder
stands by, takes nothing while the first runs, and takes the folder over when the first dies."""

from __future__ import annotations

import signal

import pytest
from drop_engine import DropEngine
from sqlalchemy import func, select
from test_exactly_once import rows

from engine.db.models import Message
from support.engine_process import wait_until

pytestmark = pytest.mark.e2e

#: Enough files that two processes racing for them would each get some.
FILES = 30


def drop_patients(running: DropEngine, prefix: str) -> list[str]:
    names = [f"{prefix}-{n:02}.csv" for n in range(FILES)]
    for name in names:
        running.drop(name, f"mrn,first_name,last_name\nF-{name[:-4].upper()},Lo,Ck\n".encode())
    return names


def stored_files(database_url: str) -> int:
    [(count,)] = rows(database_url, select(func.count()).select_from(Message).where(Message.file_name.is_not(None)))
    return count


def test_second_engine_on_a_folder_stands_by_then_takes_over_when_the_first_dies(tmp_path, simulator):
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
    first = DropEngine.start(tmp_path / "first", simulator)
    second = DropEngine.start(tmp_path / "second", simulator, name="engine-2", inbox=first.inbox)
    try:
        wait_until(lambda: "standing by" in second.engine.log(), message="the second engine standing by")
        for name in drop_patients(first, "held"):
            assert first.wait_settled(name) == "done"
        assert (stored_files(first.database_url), stored_files(second.database_url)) == (FILES, 0)

        names = drop_patients(first, "taken")
        # Kill the first in the middle of the batch; on a quick machine it may be through already.
        wait_until(lambda: any((first.inbox / where).glob("taken-*") for where in ("processing", "done")),
                   message="the first engine at work on the batch")
        first.engine.stop(signal.SIGKILL)
        names += drop_patients(first, "after")   # only the second engine is left to take these
        for name in names:
            assert second.wait_settled(name, timeout=60) == "done"
        assert not list((first.inbox / "processing").iterdir())
        assert "taking it over" in second.engine.log()
    finally:
        first.engine.stop()
        assert second.engine.stop() == 0, second.engine.log()
