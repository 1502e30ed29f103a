"""A drop-folder channel: files put in its directory are claimed, received, then moved on.

Layout under the channel's directory::

    <dir>/             files arrive here (``*.tmp`` and dotfiles are ignored until renamed)
    <dir>/processing/  claimed: the move here is the claim, and a restart resumes what is here
    <dir>/waiting/     documents whose patient is not known yet, tried again every so often
    <dir>/done/        stored and processed
    <dir>/error/       refused or failed, each with ``<name>.reason`` beside it

One engine process at a time works a channel: it holds an exclusive ``flock`` on
``<dir>/.carebridge.lock`` while it runs, and another process started on the same folder
stands by until the lock is free (the holder stopped or died), then resumes ``processing/``.
``flock`` is reliable on a local file system, so a folder belongs to the engines of one host.

A file is picked only when complete: its size and modification time unchanged across two
looks ``settle_seconds`` apart. inotify (through watchdog) wakes the channel as files
arrive; a listing every ``poll_interval_seconds`` is the fallback and the safety net. A
sidecar ``<name>.json`` travels with its file.

Whoever drops files may drop a symbolic link or a FIFO too: each is claimed and moved like a
file, by its name, and never followed or opened here; the receiver refuses it unread, so it ends
in ``error/`` with its reason. Existence checks therefore look at the name (``lexists``), not
at what a link points to.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import stat
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from engine.config.locations import make_private_directory
from engine.pipeline.file_settings import FileChannelSettings
from engine.pipeline.files import DONE, ERROR, WAIT, DatabaseUnavailable, FileOutcome, FileReceiver
from foundation.code_trace import code_trace

log = logging.getLogger(__name__)

#: Extensions of documents that may come with a sidecar: ``scan.pdf.json`` is never a file of its own.
DOCUMENT_EXTENSIONS = frozenset({"pdf", "png", "jpg", "jpeg", "gif", "tif", "tiff", "zip", "xml", "gz", "hl7",
                                 "txt", "doc", "docx", "rtf", "csv"})
#: The lock file whose holder works the channel (a dotfile: never taken for a dropped file).
LOCK_FILE = ".carebridge.lock"
#: How many times a file is tried while the database fails before it goes to ``error/``.
MAX_DATABASE_ATTEMPTS = 20
#: Pause before a file is tried again after the database failed (seconds); it doubles each time.
DATABASE_RETRY_SECONDS = 0.5
#: Longest pause between tries after database failures (seconds): 20 tries span about 14 minutes.
MAX_DATABASE_RETRY_SECONDS = 60.0
#: Suffixes of files still being written.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".filepart")


def is_ignored(name: str) -> bool:
    """Dotfiles and files still being written (``.tmp``-then-rename)."""
    return name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES) or name.endswith(".reason")


def is_sidecar(name: str) -> bool:
    """``<name>.<document extension>.json`` describes another file."""
    if not name.lower().endswith(".json"):
        return False
    stem = name[:-5]
    return "." in stem and stem.rsplit(".", 1)[1].lower() in DOCUMENT_EXTENSIONS


def stamped(name: str) -> str:
    """``name`` with the time appended, for a second file of one name in ``done/`` or ``error/``."""
    return f"{name}.{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"


def is_copy_named(candidate: str, name: str) -> bool:
    """``candidate`` is ``name`` or ``name`` stamped by :func:`stamped`."""
    return candidate == name or bool(re.fullmatch(re.escape(name) + r"\.\d{8}T\d{12}", candidate))


def unique_target(directory: Path, name: str) -> Path:
    """``directory/name``, or a stamped name if a file of that name was already put there."""
    target = directory / name
    if not os.path.lexists(target) and not os.path.lexists(directory / f"{name}.reason"):
        return target
    return directory / stamped(name)


def is_entry(path: Path) -> bool:
    """Something other than a directory is at ``path``: a file, or a link or FIFO the receiver refuses."""
    try:
        return not stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def write_reason(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all, never through a link someone left at its name."""
    partial = path.with_name(f".{path.name}.tmp")
    partial.unlink(missing_ok=True)  # a link there is removed, not followed
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


class DropFolder:
    """Watches one folder channel and hands each complete file to the receiver, one at a time.

    Example::

        folder = DropFolder(settings, receiver)
        folder.start()   # resumes processing/, then watches
        ...
        folder.stop()
    """

    def __init__(self, settings: FileChannelSettings, receiver: FileReceiver):
        self.settings = settings
        self.receiver = receiver
        self.root = settings.directory
        self.processing = self.root / "processing"
        self.waiting = self.root / "waiting"
        self.done = self.root / "done"
        self.error = self.root / "error"
        #: name -> (size, mtime_ns, monotonic time first seen so)
        self._seen: dict[str, tuple[int, int, float]] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None
        self._last_wait_retry = time.monotonic()
        #: A file could not be received (the database was down); resume processing/ on the next pass.
        self._resume_needed = False
        #: When to resume after a database failure (monotonic), and the failures of each file so far.
        self._retry_at = 0.0
        self._failures: dict[str, int] = {}
        #: Document name -> why it was refused before reaching the folder (see :meth:`refused_elsewhere`).
        self._refused_elsewhere: dict[str, str] = {}
        #: Set while this process holds the channel's lock and works the folder.
        self.owned = threading.Event()
        self._lock_handle = None
        #: The lock file could not be opened (a link at its name), and that was logged.
        self._lock_refused = False

    # Life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        for directory in (self.root, self.processing, self.waiting, self.done, self.error):
            make_private_directory(directory)
        if self.settings.watch != "poll":
            self._observer = self._start_observer()
        self._thread = threading.Thread(target=self._run, name=f"folder-{self.settings.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        if self._lock_handle is not None:
            self.owned.clear()
            self._lock_handle.close()  # releases the lock
            self._lock_handle = None

    def _take_lock(self) -> bool:
        try:
            # Never through a link left at the lock's name: opening its target would create or touch it.
            descriptor = os.open(self.root / LOCK_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if not self._lock_refused:
                self._lock_refused = True
                log.error("channel %s: cannot open %s (%s): remove what is at that name; standing by",
                          self.settings.name, LOCK_FILE, errno.errorcode.get(exc.errno, type(exc).__name__))
            return False
        handle = os.fdopen(descriptor, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_handle = handle
        self.owned.set()
        return True

    def _wait_for_lock(self) -> bool:
        """Hold the channel's lock, standing by while another process has it; ``False`` if stopped first."""
        if self._take_lock():
            return True
        log.info("channel %s: another engine process works this folder; standing by", self.settings.name)
        while not self._stopping.wait(self.settings.poll_interval_seconds):
            if self._take_lock():
                log.info("channel %s: the folder is free; taking it over", self.settings.name)
                return True
        return False

    def in_hand(self, name: str) -> bool:
        """A file of this name is in the folder and not finished yet (arrived, claimed or waiting)."""
        return any(os.path.lexists(directory / name) for directory in (self.root, self.processing, self.waiting))

    def refused_elsewhere(self, name: str, reason: str) -> None:
        """The document ``name`` was refused before it reached this folder (its copy on an SFTP
        server was over the limit): its sidecar, here alone, goes to ``error/`` at once with ``reason``
        instead of waiting for a document that will not come."""
        self._refused_elsewhere[name] = reason
        self.wake()

    def wake(self) -> None:
        """Look at the folder now (a file was put there by another part of the engine)."""
        self._wake.set()

    def _start_observer(self):
        """A watchdog observer that wakes the channel, or ``None`` (polling only) if it cannot start."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer

            wake = self._wake

            class _Wake(FileSystemEventHandler):
                def on_any_event(self, event):
                    wake.set()

            observer = Observer()
            observer.schedule(_Wake(), str(self.root), recursive=False)
            observer.start()
            return observer
        except Exception as exc:  # e.g. the inotify watch limit is reached
            log.warning("channel %s: file events unavailable (%s); polling every %ss", self.settings.name,
                        type(exc).__name__, self.settings.poll_interval_seconds)
            return None

    def _run(self) -> None:
        if not self._wait_for_lock():
            return
        self.resume()
        while not self._stopping.is_set():
            try:
                pending = self.scan_once()
            except Exception as exc:
                log.error("channel=%s: scan failed; trying again%s", self.settings.name, code_trace(exc))
                pending = False
            timeout = min(self.settings.poll_interval_seconds, self.settings.settle_seconds) if pending \
                else self.settings.poll_interval_seconds
            self._wake.wait(timeout)
            self._wake.clear()

    # One pass --------------------------------------------------------------------------

    def resume(self) -> None:
        """Finish what a previous run left in ``processing/`` (each file is recognised, not redone)."""
        for path in sorted(self.processing.iterdir()):
            if is_entry(path) and not is_sidecar(path.name) and not is_ignored(path.name):
                stray = self.root / f"{path.name}.json"
                if os.path.lexists(stray) and not os.path.lexists(self.processing / stray.name):
                    os.replace(stray, self.processing / stray.name)  # the crash came between the two claims
                self._handle(path, resumed=True)

    def scan_once(self) -> bool:
        """Claim and receive every complete file; ``True`` while some file is still settling."""
        now = time.monotonic()
        if self._resume_needed and now >= self._retry_at:
            self._resume_needed = False
            self.resume()
        # Links and FIFOs too (never followed): claimed like files, they are refused with a reason in error/.
        names = {entry.name: entry for entry in os.scandir(self.root) if not entry.is_dir(follow_symlinks=False)}
        pending = False
        for name in sorted(names):
            if self._stopping.is_set():
                return False
            if is_ignored(name):
                continue
            if is_sidecar(name) and name[:-5] not in names:
                pending |= self._hold_orphan(name, names[name], now)
                continue
            if is_sidecar(name):
                continue  # claimed with its file
            if not self._settled(name, names[name], now):
                pending = True
                continue
            sidecar = names.get(f"{name}.json")
            if sidecar is not None and not self._settled(sidecar.name, sidecar, now):
                pending = True
                continue
            claimed = self._claim(name)
            if claimed is not None:
                self._handle(claimed, resumed=False)
        self._seen = {k: v for k, v in self._seen.items() if k in names}
        if now - self._last_wait_retry >= self.settings.wait_retry_seconds:
            self._last_wait_retry = now
            self.retry_waiting()
        return pending or self._resume_needed

    def retry_waiting(self) -> None:
        """Try again the documents waiting for their patient."""
        for path in sorted(self.waiting.iterdir()):
            if is_entry(path) and not is_sidecar(path.name) and not os.path.lexists(self.processing / path.name):
                self._move_with_sidecar(path, self.processing / path.name)
                self._handle(self.processing / path.name, resumed=True)

    def _settled(self, name: str, entry: os.DirEntry, now: float) -> bool:
        stat = entry.stat(follow_symlinks=False)
        previous = self._seen.get(name)
        if previous is None or previous[:2] != (stat.st_size, stat.st_mtime_ns):
            self._seen[name] = (stat.st_size, stat.st_mtime_ns, now)
            return False
        return now - previous[2] >= self.settings.settle_seconds

    def _hold_orphan(self, name: str, entry: os.DirEntry, now: float) -> bool:
        """A sidecar whose file has not come waits for it, then goes to ``error/`` (at once when the
        file was refused before reaching the folder)."""
        self._settled(name, entry, now)
        refused = self._refused_elsewhere.get(name[:-5])
        if refused is None and now - self._seen[name][2] < self.settings.orphan_sidecar_seconds:
            return True
        claimed = self._claim(name)
        if claimed is not None:
            self._refused_elsewhere.pop(name[:-5], None)
            self._finish(claimed, FileOutcome(ERROR, None, refused or "sidecar without the file it describes"))
        return False

    def _claim(self, name: str) -> Path | None:
        """Move a file (then its sidecar) to ``processing/``; ``None`` if another claimed it first."""
        target = self.processing / name
        if os.path.lexists(target) or os.path.lexists(self.waiting / name):
            return None  # a file of that name is still in hand; take this one after it
        try:
            os.rename(self.root / name, target)
        except FileNotFoundError:
            return None
        sidecar = self.root / f"{name}.json"
        if os.path.lexists(sidecar):
            os.replace(sidecar, self.processing / sidecar.name)
        self._seen.pop(name, None)
        self._seen.pop(sidecar.name, None)
        return target

    # Receiving and moving on -------------------------------------------------------------

    def _handle(self, path: Path, resumed: bool) -> None:
        sidecar = path.with_name(f"{path.name}.json")
        try:
            outcome = self.receiver.receive(path, sidecar if os.path.lexists(sidecar) else None, resumed=resumed)
        except DatabaseUnavailable as failure:
            self._try_again_later(path, failure.message_id, str(failure))
            return
        except Exception as exc:  # e.g. the file could not be read
            log.error("channel=%s: receiving a file failed%s", self.settings.name, code_trace(exc))
            self._try_again_later(path, None, f"the file could not be received: {type(exc).__name__}")
            return
        self._failures.pop(path.name, None)
        self._finish(path, outcome)

    def _try_again_later(self, path: Path, message_id: int | None, reason: str) -> None:
        """Leave the file claimed and resume it after a pause; after too many tries, ``error/``."""
        attempts = self._failures.get(path.name, 0) + 1
        if attempts >= MAX_DATABASE_ATTEMPTS:
            self._failures.pop(path.name, None)
            self._finish(path, FileOutcome(ERROR, message_id, f"{reason} ({attempts} tries); move the file back "
                                                              "into the channel's folder to try again"))
            return
        self._failures[path.name] = attempts
        delay = min(MAX_DATABASE_RETRY_SECONDS, DATABASE_RETRY_SECONDS * 2 ** (attempts - 1))
        # The channel and message id only: a traceback would show the path, whose name may carry an MRN.
        log.warning("channel=%s message=%s: %s; the file stays in processing/, tried again in %.1f s",
                    self.settings.name, message_id, reason, delay)
        self._retry_at = time.monotonic() + delay
        self._resume_needed = True

    def _finish(self, path: Path, outcome: FileOutcome) -> None:
        # Ids and outcomes only: file names may carry patient identifiers.
        log.info("channel=%s message=%s outcome=%s%s", self.settings.name, outcome.message_id, outcome.status,
                 f" reason={outcome.reason}" if outcome.reason and outcome.status == ERROR else "")
        if outcome.status == WAIT:
            self._move_with_sidecar(path, self.waiting / path.name)
            return
        directory = self.done if outcome.status == DONE else self.error
        target = unique_target(directory, path.name)
        if outcome.status == ERROR:
            write_reason(target.with_name(f"{target.name}.reason"), f"message {outcome.message_id}: {outcome.reason}\n")
        self._move_with_sidecar(path, target)

    @staticmethod
    def _move_with_sidecar(path: Path, target: Path) -> None:
        sidecar = path.with_name(f"{path.name}.json")
        if os.path.lexists(sidecar):
            os.replace(sidecar, target.with_name(f"{target.name}.json"))
        os.replace(path, target)
