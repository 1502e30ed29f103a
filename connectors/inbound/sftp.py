"""An SFTP channel: files in a remote directory are fetched into a local drop folder, which then
does all the rest (claim, store, process, done/ or error/).

On the remote side the poller claims a file by renaming it into ``processing/``, fetches it,
puts it into the local folder by a link that never replaces a file (complete or not at all),
then moves the remote copy to ``done/``. A file over the channel's size limit is not fetched:
it goes to the remote ``error/`` with ``<name>.reason`` beside it, and its sidecar with it (a
sidecar fetched already goes to the local ``error/`` saying its document was refused). A remote file whose name is
still in hand locally waits on the server until the local one is finished. A restart finishes
what remote ``processing/`` holds, skipping a file only when the very same bytes already
reached the local folder, so a file is fetched into the local folder once.

The server's host key must be known: ``known_hosts_path``, or ``trust_first_host_key: true``,
which keeps the key seen on the first connection in ``<directory>/.sftp_known_hosts`` and
refuses any other key after that.

The server names the files, and a hostile one could name a path (``../../etc/cron.d/x``): a
name holding ``/``, ``\\``, ``..`` or NUL is refused, left alone on the server (renaming it there
could touch another remote path) and never fetched or used as a local name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import stat
import threading
from pathlib import Path
from typing import Any

import paramiko

from connectors.inbound.folder import DropFolder, is_copy_named, is_ignored, is_sidecar, stamped

log = logging.getLogger(__name__)

#: Seconds to wait for the SFTP server to answer.
CONNECT_TIMEOUT_SECONDS = 15.0
#: Where ``trust_first_host_key`` keeps the key first seen, inside the channel's directory.
TRUSTED_HOST_KEYS_FILE = ".sftp_known_hosts"
#: The remote folders the poller keeps beside the remote directory's files.
REMOTE_FOLDERS = ("processing", "done", "error")
#: What a remote file's name may not hold: it becomes a local name, and a remote path on the server.
UNSAFE_NAME_PARTS = ("/", "\\", "..", "\x00")


def is_plain_name(name: str) -> bool:
    """A remote name safe to use as a file name here and beside the remote directory: not empty, and
    no path separator (``/``, ``\\``), no ``..`` and no NUL in it."""
    return bool(name) and not any(part in name for part in UNSAFE_NAME_PARTS)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


class SftpChannel:
    """Polls one remote directory into a local :class:`DropFolder`.

    Example::

        channel = SftpChannel({"host": "sftp.example.org", "username": "carebridge",
                               "private_key_path": "/etc/carebridge/id_ed25519",
                               "remote_directory": "/outbox"}, DropFolder(settings, receiver))
        channel.start()
    """

    def __init__(self, options: dict[str, Any], folder: DropFolder):
        self.options = options
        self.folder = folder
        self.remote = options["remote_directory"].rstrip("/") or "/"
        self.interval = folder.settings.poll_interval_seconds
        self._seen: dict[str, tuple[int, int]] = {}
        #: Unsafe remote names already refused, so each is logged once.
        self._refused_names: set[str] = set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.folder.start()
        self._thread = threading.Thread(target=self._run, name=f"sftp-{self.folder.settings.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.folder.stop(timeout)

    def _connect(self) -> tuple[paramiko.SSHClient, paramiko.SFTPClient]:
        client = paramiko.SSHClient()
        known_hosts = self.options.get("known_hosts_path")
        trusted = self.folder.root / TRUSTED_HOST_KEYS_FILE
        first_use = not known_hosts and not trusted.exists()
        if first_use:
            # Only with trust_first_host_key (checked with the configuration): this key is kept below.
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        else:
            client.load_host_keys(known_hosts or str(trusted))
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(self.options["host"], port=int(self.options.get("port", 22)),
                       username=self.options["username"], password=self.options.get("password"),
                       key_filename=self.options.get("private_key_path"), timeout=CONNECT_TIMEOUT_SECONDS,
                       allow_agent=False, look_for_keys=False)
        if first_use:
            client.save_host_keys(str(trusted))
            log.warning("channel %s: trusting the SFTP server's host key on first use; kept in %s",
                        self.folder.settings.name, TRUSTED_HOST_KEYS_FILE)
        sftp = client.open_sftp()
        for name in REMOTE_FOLDERS:
            try:
                sftp.mkdir(posixpath.join(self.remote, name))
            except OSError:
                pass  # already there
        return client, sftp

    def _run(self) -> None:
        connection = None
        resumed = False
        # Only the process that works the local folder polls, so no two resume one remote processing/.
        while not self.folder.owned.wait(self.interval):
            if self._stopping.is_set():
                return
        while not self._stopping.is_set():
            try:
                if connection is None:
                    connection = self._connect()
                if not resumed:
                    self._resume(connection[1])
                    resumed = True
                self.poll_once(connection[1])
            except Exception as exc:
                log.warning("channel %s: SFTP poll failed (%s); reconnecting", self.folder.settings.name,
                            type(exc).__name__)
                if connection is not None:
                    connection[0].close()
                connection, resumed = None, False  # what the failure left in remote processing/ is resumed
            self._stopping.wait(self.interval)
        if connection is not None:
            connection[0].close()

    def poll_once(self, sftp: paramiko.SFTPClient) -> None:
        """Fetch every remote file whose size and time held still since the last look."""
        listed = sftp.listdir_attr(self.remote)
        self._refused_names.intersection_update(a.filename for a in listed)  # forget names no longer there
        listing = {a.filename: a for a in listed
                   if stat.S_ISREG(a.st_mode or 0) and self._usable(a.filename) and not is_ignored(a.filename)}
        # Sidecars first, so a document never reaches the local folder before what describes it.
        for name, attributes in sorted(listing.items(), key=lambda item: (not is_sidecar(item[0]), item[0])):
            if self._stopping.is_set():
                return
            look = (attributes.st_size or 0, attributes.st_mtime or 0)
            if self._seen.get(name) != look:
                self._seen[name] = look
                continue
            if self.folder.in_hand(name):
                continue  # a file of that name is still being received here; fetch this one after it
            source = posixpath.join(self.remote, name)
            limit = self.folder.settings.max_file_bytes
            document = listing.get(name[:-5]) if is_sidecar(name) else None
            if document is not None and (document.st_size or 0) > limit:
                continue  # its document will be refused: the sidecar stays with it, into the remote error/
            if look[0] > limit:
                self._refuse(sftp, source, name, f"file is {look[0]} bytes, over the channel's limit of {limit}")
                continue
            claimed = posixpath.join(self.remote, "processing", name)
            try:
                sftp.rename(source, claimed)
            except OSError:
                continue  # another poller took it
            self._fetch(sftp, name, resuming=False)
        self._seen = {k: v for k, v in self._seen.items() if k in listing}

    def _resume(self, sftp: paramiko.SFTPClient) -> None:
        for name in sorted(sftp.listdir(posixpath.join(self.remote, "processing"))):
            if self._usable(name):
                self._fetch(sftp, name, resuming=True)

    def _usable(self, name: str) -> bool:
        """Whether a name the server listed is a plain file name; an unsafe one is logged (once) and left."""
        if is_plain_name(name):
            return True
        if name not in self._refused_names:
            self._refused_names.add(name)
            # Not the name itself: it may carry patient identifiers, or bytes meant for a terminal.
            log.warning("channel=%s: refused a remote file whose name holds '/', '\\', '..' or NUL; it stays "
                        "on the SFTP server, neither fetched nor moved", self.folder.settings.name)
        return False

    def _already_local(self, name: str, partial: Path) -> bool:
        """The local folder holds a file of this name (or its stamped copy) with these very bytes."""
        folder, size, digest = self.folder, partial.stat().st_size, None
        for directory in (folder.root, folder.processing, folder.waiting, folder.done, folder.error):
            for candidate in directory.iterdir():
                if not is_copy_named(candidate.name, name):
                    continue
                found = candidate.lstat()  # a link or FIFO left here is never followed or read
                if not stat.S_ISREG(found.st_mode) or found.st_size != size:
                    continue
                digest = digest or _sha256(partial)
                if _sha256(candidate) == digest:
                    return True
        return False

    def _fetch(self, sftp: paramiko.SFTPClient, name: str, resuming: bool) -> None:
        claimed = posixpath.join(self.remote, "processing", name)
        partial = self.folder.root / f".{name}.sftp.tmp"
        sftp.get(claimed, str(partial))
        try:
            # Only a resumed file may have reached the local folder already (the crash came after the link).
            if not (resuming and self._already_local(name, partial)):
                # A link never replaces a file: the local folder sees it whole or not at all, and
                # a same-named file that arrived in the meantime is kept.
                os.link(partial, self.folder.root / name)
                self.folder.wake()
        except FileExistsError:
            sftp.rename(claimed, posixpath.join(self.remote, name))  # back on the server for a later poll
            return
        finally:
            partial.unlink(missing_ok=True)
        self._move(sftp, claimed, "done", name)

    def _refuse(self, sftp: paramiko.SFTPClient, source: str, name: str, reason: str) -> None:
        """Move a remote file to the remote ``error/`` with its reason, without fetching it."""
        target = self._move(sftp, source, "error", name)
        with sftp.open(f"{target}.reason", "w") as handle:
            handle.write(f"{reason}\n")
        try:
            sftp.rename(f"{source}.json", f"{target}.json")  # its sidecar, if any, stays with it
        except OSError:
            if (self.folder.root / f"{name}.json").exists():  # fetched before the document was seen
                self.folder.refused_elsewhere(name, f"sidecar whose document was refused on the SFTP server "
                                                    f"({reason}); the document is in the server's error/")
        # The name may carry patient identifiers: the log says only that a file was refused.
        log.warning("channel=%s: an SFTP file went to the remote error/: %s", self.folder.settings.name, reason)

    def _move(self, sftp: paramiko.SFTPClient, source: str, folder: str, name: str) -> str:
        """Rename ``source`` into a remote folder, stamped when that name is taken; returns where it went."""
        target = posixpath.join(self.remote, folder, name)
        try:
            sftp.rename(source, target)
        except OSError:
            target = posixpath.join(self.remote, folder, stamped(name))
            sftp.rename(source, target)
        return target
