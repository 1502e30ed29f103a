"""What the engine writes to disk is for its own user only: var/, the SQLite database and its
-wal and -shm files are made owner-only (0700 folders, 0600 files), whatever the umask."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.config.locations import make_private_directory
from support.config import write_test_config


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request):
    """The test under a usual umask and under one that takes nothing away."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


@pytest.fixture
def runtime_on(tmp_path):
    """Builds an embedded runtime whose var directory is ``tmp_path / "var"``; closes it after the test."""
    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings
    from engine.db.migrations import upgrade

    built = []

    def make():
        settings = Settings.from_env({"CAREBRIDGE_VAR_DIR": str(tmp_path / "var"), "CAREBRIDGE_AUTH": "off",
                                      "CAREBRIDGE_CONFIG": str(write_test_config(tmp_path))})
        runtime = build_runtime(settings, mapper=_NoMapper())
        upgrade(runtime.database)
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        runtime.close()


class _NoMapper:
    def map(self, raw, channel=None, default_charset="utf-8", header=None):
        raise AssertionError("this test maps no message")


def test_a_new_runtime_makes_var_and_the_database_owner_only(umask, runtime_on, tmp_path):
    runtime = runtime_on()
    with runtime.database.write() as session:  # a write, so that the -wal and -shm files exist
        session.execute(text("CREATE TABLE probe (x INTEGER)"))
    var = tmp_path / "var"
    assert mode(var) == 0o700
    files = [var / "carebridge.db", var / "carebridge.db-wal", var / "carebridge.db-shm"]
    assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}


def test_missing_parents_are_made_owner_only_and_existing_folders_keep_their_mode(umask, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    make_private_directory(shared / "carebridge" / "var")
    assert (mode(shared), mode(shared / "carebridge"), mode(shared / "carebridge" / "var")) == (0o755, 0o700, 0o700)


def test_a_database_others_can_read_is_named_in_a_warning(tmp_path, caplog):
    from engine.db.database import Database

    path = tmp_path / "old.db"
    path.touch()
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="engine.db.database"):
        Database(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o644  # not changed behind the operator's back
    assert [r.getMessage() for r in caplog.records if "chmod 600" in r.getMessage() and str(path) in r.getMessage()]


def test_a_drop_folder_makes_its_folders_owner_only(umask, runtime_on, tmp_path):
    from connectors.inbound.watchers import start_file_channel

    runtime = runtime_on()
    channel = start_file_channel(runtime.config.channel("inbox"), runtime.file_receivers["inbox"])
    channel.stop()
    inbox = tmp_path / "var" / "inbox"
    folders = [inbox, *(inbox / name for name in ("processing", "waiting", "done", "error"))]
    assert {f.name: mode(f) for f in folders} == {f.name: 0o700 for f in folders}
