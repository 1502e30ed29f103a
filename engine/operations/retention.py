"""How long PHI outside the resources is kept: raw messages, finished deliveries, the sync log and the
copies in file channels' ``done/`` folders go once older than their retention period. Resources stay.

A prune deletes in short transactions of at most :data:`BATCH_SIZE` rows, pausing between them, so intake
(which writes on the same database) never waits long behind it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import aliased

from engine.config.environment import positive_int
from engine.db.database import Database
from engine.db.models import Delivery, DeliveryStatus, Message, MessageResource, MessageStatus, SyncLogEntry, utcnow

log = logging.getLogger(__name__)

#: Days a raw message is kept once its processing is final (CAREBRIDGE_RETAIN_MESSAGES_DAYS).
DEFAULT_MESSAGES_DAYS = 90
#: Days a delivered or skipped delivery is kept after it finished (CAREBRIDGE_RETAIN_DELIVERIES_DAYS).
DEFAULT_DELIVERIES_DAYS = 90
#: Days a sync-log row is kept (CAREBRIDGE_RETAIN_SYNC_LOG_DAYS).
DEFAULT_SYNC_LOG_DAYS = 365
#: Days a file stays in a folder channel's ``done/`` (CAREBRIDGE_RETAIN_DONE_FILES_DAYS).
DEFAULT_DONE_FILES_DAYS = 30
#: Rows deleted per transaction.
BATCH_SIZE = 1000
#: Pause between two batches (seconds), so a writer waiting for SQLite's lock gets it.
BATCH_PAUSE_SECONDS = 0.02

#: Message statuses after which the pipeline never touches a message again by itself.
FINAL_MESSAGE_STATUSES = (MessageStatus.MAPPED, MessageStatus.UNSUPPORTED, MessageStatus.ERROR,
                          MessageStatus.REFUSED)
#: Delivery statuses a prune removes (a failed delivery is parked for an operator and stays).
PRUNED_DELIVERY_STATUSES = (DeliveryStatus.DELIVERED, DeliveryStatus.SKIPPED)


@dataclass(frozen=True)
class RetentionSettings:
    """Retention periods in whole days.

    Example::

        settings = RetentionSettings.from_environ({"CAREBRIDGE_RETAIN_MESSAGES_DAYS": "30"})
    """

    messages_days: int = DEFAULT_MESSAGES_DAYS
    deliveries_days: int = DEFAULT_DELIVERIES_DAYS
    sync_log_days: int = DEFAULT_SYNC_LOG_DAYS
    done_files_days: int = DEFAULT_DONE_FILES_DAYS

    @classmethod
    def from_environ(cls, environ) -> "RetentionSettings":
        """Unset or empty means the default; 0 or less is a :class:`ConfigError` naming the setting."""
        return cls(positive_int(environ, "CAREBRIDGE_RETAIN_MESSAGES_DAYS", DEFAULT_MESSAGES_DAYS),
                   positive_int(environ, "CAREBRIDGE_RETAIN_DELIVERIES_DAYS", DEFAULT_DELIVERIES_DAYS),
                   positive_int(environ, "CAREBRIDGE_RETAIN_SYNC_LOG_DAYS", DEFAULT_SYNC_LOG_DAYS),
                   positive_int(environ, "CAREBRIDGE_RETAIN_DONE_FILES_DAYS", DEFAULT_DONE_FILES_DAYS))


@dataclass
class PruneCounts:
    """What a prune deleted (or, dry, would delete), per kind."""

    messages: int = 0
    message_resources: int = 0
    deliveries: int = 0
    sync_log: int = 0
    done_files: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())


def _cutoff(now: datetime, days: int) -> datetime | None:
    """The instant before which things go; ``None`` for a period longer than the calendar (keep forever)."""
    try:
        cutoff = now - timedelta(days=days)
    except OverflowError:
        return None
    return cutoff if cutoff.year > 1 else None


class Retention:
    """Prunes what is older than its retention period.

    Example::

        counts = Retention(database, RetentionSettings.from_environ(environ), done_dirs).prune()
    """

    def __init__(self, database: Database, settings: RetentionSettings, done_dirs: Iterable[Path] = (), *,
                 batch_size: int = BATCH_SIZE, pause_seconds: float = BATCH_PAUSE_SECONDS):
        self.database = database
        self.settings = settings
        self.done_dirs = list(done_dirs)
        self.batch_size = batch_size
        self.pause_seconds = pause_seconds

    def prune(self, now: datetime | None = None, dry_run: bool = False) -> PruneCounts:
        """Delete (``dry_run``: only count) everything past its period; the counts per kind."""
        now = now or utcnow()
        counts = PruneCounts()
        if cutoff := _cutoff(now, self.settings.messages_days):
            self._messages(cutoff, dry_run, counts)
        if cutoff := _cutoff(now, self.settings.deliveries_days):
            counts.deliveries = self._rows(self._old_deliveries(cutoff), Delivery, Delivery.id, dry_run)
        if cutoff := _cutoff(now, self.settings.sync_log_days):
            old_log = select(SyncLogEntry.id).where(SyncLogEntry.created_at < cutoff)
            counts.sync_log = self._rows(old_log, SyncLogEntry, SyncLogEntry.id, dry_run)
        if cutoff := _cutoff(now, self.settings.done_files_days):
            counts.done_files = self._done_files(cutoff, dry_run)
        if counts.total and not dry_run:
            log.info("retention pruned %s", " ".join(f"{k}={v}" for k, v in counts.as_dict().items() if v))
        return counts

    def _old_messages(self, cutoff: datetime):
        return select(Message.id).where(Message.received_at < cutoff, Message.status.in_(FINAL_MESSAGE_STATUSES))

    def _old_deliveries(self, cutoff: datetime):
        waiter = aliased(Delivery)
        # A delivery another one still waits for stays until that one is released.
        return select(Delivery.id).where(Delivery.status.in_(PRUNED_DELIVERY_STATUSES), Delivery.updated_at < cutoff,
                                         ~exists().where(waiter.waiting_for == Delivery.id))

    def _messages(self, cutoff: datetime, dry_run: bool, counts: PruneCounts) -> None:
        if dry_run:
            old = self._old_messages(cutoff).subquery()
            with self.database.read() as session:
                counts.messages = session.scalar(select(func.count()).select_from(old)) or 0
                counts.message_resources = session.scalar(select(func.count()).select_from(MessageResource).where(
                    MessageResource.message_id.in_(select(old.c.id)))) or 0
            return
        for ids in self._batches(self._old_messages(cutoff), Message.id):
            with self.database.write() as session:
                counts.message_resources += session.execute(
                    delete(MessageResource).where(MessageResource.message_id.in_(ids))).rowcount or 0
                counts.messages += session.execute(delete(Message).where(Message.id.in_(ids))).rowcount or 0

    def _rows(self, query, model, key, dry_run: bool) -> int:
        if dry_run:
            with self.database.read() as session:
                return session.scalar(select(func.count()).select_from(query.subquery())) or 0
        deleted = 0
        for ids in self._batches(query, key):
            with self.database.write() as session:
                deleted += session.execute(delete(model).where(key.in_(ids))).rowcount or 0
        return deleted

    def _batches(self, query, key):
        """Lists of at most ``batch_size`` ids, in id order, read afresh after each batch is deleted."""
        after = None
        while True:
            page = query.where(key > after) if after is not None else query
            with self.database.read() as session:
                ids = list(session.scalars(page.order_by(key).limit(self.batch_size)))
            if not ids:
                return
            yield ids
            after = ids[-1]
            time.sleep(self.pause_seconds)

    def _done_files(self, cutoff: datetime, dry_run: bool) -> int:
        # A move into done/ keeps the file's mtime but changes its ctime: the later of the two is its age.
        limit = cutoff.timestamp()
        deleted = 0
        for directory in self.done_dirs:
            if not directory.is_dir():
                continue
            for path in directory.iterdir():
                try:
                    stat = path.lstat()
                    if not path.is_file() or max(stat.st_mtime, stat.st_ctime) >= limit:
                        continue
                    if not dry_run:
                        path.unlink()
                    deleted += 1
                except FileNotFoundError:
                    continue
        return deleted


def folder_done_dirs(runtime) -> list[Path]:
    """The ``done/`` directory of each folder channel of ``runtime``."""
    return [receiver.settings.directory / "done" for name, receiver in runtime.file_receivers.items()
            if runtime.config.channel(name).type == "folder"]


def build_retention(runtime) -> Retention:
    """The retention of ``runtime``'s database and folder channels, with periods from its environment."""
    return Retention(runtime.database, RetentionSettings.from_environ(runtime.settings.environ),
                     folder_done_dirs(runtime))
