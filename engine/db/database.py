"""Database access for both run modes: SQLite (embedded) and PostgreSQL (scaled).

Write transactions on SQLite begin IMMEDIATE, so two writers never read the same state and
then race to write it; on PostgreSQL, identity decisions take a transaction-scoped advisory
lock. Either way, two messages about the same new patient make one Patient, not two.
"""

from __future__ import annotations

import hashlib
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, exc, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from engine.config.locations import PRIVATE_FILE_MODE, make_private_directory

log = logging.getLogger(__name__)

#: SQLite's durability level: every commit is on disk before the commit returns.
SQLITE_SYNCHRONOUS = "FULL"
#: How long a SQLite writer waits for the lock before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30000


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use psycopg 3 for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


#: Failures of the database itself (down, disconnected, a lock or statement timeout, a
#: deadlock or serialisation failure): the same work can succeed when tried again.
TRANSIENT_ERRORS = (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError)


def is_transient(error: BaseException) -> bool:
    """The database failed, not the work: trying again later may succeed."""
    return isinstance(error, TRANSIENT_ERRORS)


def _private_sqlite_file(path: Path) -> None:
    """Make the database file owner-only before SQLite opens it, so it never exists readable by others.

    SQLite gives its -wal and -shm files the database file's mode. A file that exists keeps its
    mode; one that others may read is named in a warning (the path only).
    """
    make_private_directory(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("the SQLite database %s can be read by other users (mode %o): chmod 600 it, and its "
                        "-wal and -shm files", path, mode)
        return
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)  # the mode given to open() passes through the umask
    finally:
        os.close(descriptor)  # an empty file is an empty SQLite database


class Database:
    """One engine and its sessions.

    Example::

        db = Database("sqlite:///var/carebridge.db")
        with db.write() as session:
            session.add(record)
    """

    def __init__(self, url: str, *, echo: bool = False):
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # Bound parameters are raw HL7 and resource JSON: the text of a database error, which
        # is logged, must never carry them.
        if self.is_sqlite:
            path = make_url(self.url).database
            if path and path != ":memory:" and not path.startswith("file:"):
                _private_sqlite_file(Path(path))
            self.engine: Engine = create_engine(
                self.url, echo=echo, hide_parameters=True,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                pool_size=10, max_overflow=20,
            )
            self._configure_sqlite(self.engine)
        else:
            self.engine = create_engine(self.url, echo=echo, hide_parameters=True, pool_pre_ping=True,
                                        pool_size=10, max_overflow=20)
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        write_engine = self.engine.execution_options(carebridge_write=True) if self.is_sqlite else self.engine
        self._write_sessions = sessionmaker(write_engine, expire_on_commit=False)

    @staticmethod
    def _configure_sqlite(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):
            # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # Not NORMAL: in WAL mode it may lose the last commits on a power cut, and an AA
            # follows each commit, so a lost commit is a message the sender will not send again.
            cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection):
            immediate = connection.get_execution_options().get("carebridge_write")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; closed (its transaction ended) at the end, objects stay readable."""
        session = self._read_sessions()
        try:
            yield session
        finally:
            session.close()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose work commits together at the end, or not at all."""
        session = self._write_sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def lock(self, session: Session, key: str) -> None:
        """Serialise work on ``key`` until the transaction ends (SQLite's write lock already does)."""
        if self.is_sqlite:
            return
        number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:n)"), {"n": number})

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
