"""The embedded SQLite database keeps what it acknowledged, even across a power cut."""

from sqlalchemy import text

from engine.db.database import Database

#: ``PRAGMA synchronous`` answers with a number: 1 is NORMAL, 2 is FULL.
SQLITE_SYNCHRONOUS_FULL = 2


def test_sqlite_commits_are_on_disk_before_they_return(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'carebridge.db'}")
    try:
        with database.write() as session:
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert session.execute(text("PRAGMA synchronous")).scalar() == SQLITE_SYNCHRONOUS_FULL
    finally:
        database.dispose()
