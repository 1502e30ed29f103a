"""When a channel picks a file up: only once it is complete, whether the sender renames it into
place or writes it where it lies, and promptly whether inotify or the poll notices it."""

from __future__ import annotations

import time

import pytest
from drop_engine import DropEngine
from sqlalchemy import func, select
from test_exactly_once import rows

from engine.db.models import Message

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
#: Rows the in-place writer appends, one every WRITE_PAUSE_SECONDS: longer than a look.
ROWS_WRITTEN_IN_PLACE = 12
WRITE_PAUSE_SECONDS = 0.2
#: A poll interval so long that only a working inotify watcher can explain a prompt pickup.
LONG_POLL_SECONDS = 300
#: How soon a file must be picked when something wakes the channel.
PROMPT_SECONDS = 10


def patients_csv(prefix: str, count: int = 1) -> bytes:
    return ("mrn,first_name,last_name\n" + "".join(f"{prefix}-{n},Pat,Pickup\n" for n in range(count))).encode()


def test_file_written_in_place_is_picked_only_once_its_size_holds_still(tmp_path, simulator):
    running = DropEngine.start(tmp_path, simulator, settle_seconds=1.0)
    try:
        with open(running.inbox / "slow.csv", "wb") as handle:
            handle.write(b"mrn,first_name,last_name\n")
            for n in range(ROWS_WRITTEN_IN_PLACE):
                handle.flush()
                time.sleep(WRITE_PAUSE_SECONDS)
                handle.write(f"F-SLOW-{n},Sam,Slow\n".encode())
                assert (running.inbox / "slow.csv").exists(), "the file was claimed while still being written"
        assert running.wait_settled("slow.csv") == "done"
        for n in range(ROWS_WRITTEN_IN_PLACE):
            assert running.search("Patient", f"{SYSTEM}|F-SLOW-{n}")
        [(stored,)] = rows(running.database_url, select(func.count()).select_from(Message)
                           .where(Message.file_name == "slow.csv"))
        assert stored == 1
    finally:
        assert running.engine.stop() == 0, running.engine.log()


def test_poll_mode_picks_files_up_without_file_events(tmp_path, simulator):
    running = DropEngine.start(tmp_path, simulator, watch="poll")
    try:
        running.drop("polled.csv", patients_csv("F-POLLED"))
        assert running.wait_settled("polled.csv") == "done"
        assert running.search("Patient", f"{SYSTEM}|F-POLLED-0")
        assert "file events unavailable" not in running.engine.log()
    finally:
        assert running.engine.stop() == 0, running.engine.log()


def test_inotify_wakes_the_channel_long_before_its_poll_would(tmp_path, simulator):
    running = DropEngine.start(tmp_path, simulator, poll_interval_seconds=LONG_POLL_SECONDS)
    try:
        time.sleep(1)  # past the first scan at start, so only an event can bring the next one
        running.drop("woken.csv", patients_csv("F-WOKEN"))
        assert running.wait_settled("woken.csv", timeout=PROMPT_SECONDS) == "done"
    finally:
        assert running.engine.stop() == 0, running.engine.log()
