"""An SFTP channel: files in a remote directory are fetched into a local drop folder, which then
does all the rest (claim, store, process, done/ or error/).

On the remote side the poller claims a file by renaming it into ``processing/``, fetches it,
puts it into the local folder by rename (complete or not at all), then moves the remote copy
to ``done/``. A restart finishes what remote ``processing/`` holds, skipping files that
already reached the local folder, so a file is fetched into the local folder once.
"""

from __future__ import annotations

import logging
import os
import posixpath
import stat
import threading
from typing import Any

import paramiko

from connectors.inbound.folder import DropFolder, is_ignored, is_sidecar

log = logging.getLogger(__name__)

#: Seconds to wait for the SFTP server to answer.
CONNECT_TIMEOUT_SECONDS = 15.0


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
        if known_hosts:
            client.load_host_keys(known_hosts)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            # Without a known_hosts file the first key seen is trusted; configure one in production.
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        client.connect(self.options["host"], port=int(self.options.get("port", 22)),
                       username=self.options["username"], password=self.options.get("password"),
                       key_filename=self.options.get("private_key_path"), timeout=CONNECT_TIMEOUT_SECONDS,
                       allow_agent=False, look_for_keys=False)
        sftp = client.open_sftp()
        for name in ("processing", "done"):
            try:
                sftp.mkdir(posixpath.join(self.remote, name))
            except OSError:
                pass  # already there
        return client, sftp

    def _run(self) -> None:
        connection = None
        resumed = False
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
                connection = None
            self._stopping.wait(self.interval)
        if connection is not None:
            connection[0].close()

    def poll_once(self, sftp: paramiko.SFTPClient) -> None:
        """Fetch every remote file whose size and time held still since the last look."""
        listing = {a.filename: a for a in sftp.listdir_attr(self.remote)
                   if stat.S_ISREG(a.st_mode or 0) and not is_ignored(a.filename)}
        # Sidecars first, so a document never reaches the local folder before what describes it.
        for name, attributes in sorted(listing.items(), key=lambda item: (not is_sidecar(item[0]), item[0])):
            if self._stopping.is_set():
                return
            look = (attributes.st_size or 0, attributes.st_mtime or 0)
            if self._seen.get(name) != look:
                self._seen[name] = look
                continue
            claimed = posixpath.join(self.remote, "processing", name)
            try:
                sftp.rename(posixpath.join(self.remote, name), claimed)
            except OSError:
                continue  # another poller took it
            self._fetch(sftp, name, resuming=False)
        self._seen = {k: v for k, v in self._seen.items() if k in listing}

    def _resume(self, sftp: paramiko.SFTPClient) -> None:
        for name in sorted(sftp.listdir(posixpath.join(self.remote, "processing"))):
            self._fetch(sftp, name, resuming=True)

    def _already_local(self, name: str) -> bool:
        folder = self.folder
        return any((directory / name).exists()
                   for directory in (folder.root, folder.processing, folder.waiting, folder.done, folder.error))

    def _fetch(self, sftp: paramiko.SFTPClient, name: str, resuming: bool) -> None:
        claimed = posixpath.join(self.remote, "processing", name)
        # Only a resumed file may have reached the local folder already (the crash came after the rename).
        if not (resuming and self._already_local(name)):
            partial = self.folder.root / f".{name}.sftp.tmp"
            sftp.get(claimed, str(partial))
            os.replace(partial, self.folder.root / name)  # the local folder sees it whole or not at all
            self.folder.wake()
        try:
            sftp.rename(claimed, posixpath.join(self.remote, "done", name))
        except OSError:
            sftp.remove(claimed)  # a file of that name is already in remote done/
