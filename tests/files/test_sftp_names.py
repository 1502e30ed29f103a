"""The SFTP server names the files it lists, and a hostile one may name a path: a name holding
``/``, ``\\``, ``..`` or NUL is refused, never fetched, never written outside the folder and
never moved on the server, and the files listed beside it are fetched as usual.

A real OpenSSH server cannot list a name with ``/`` or NUL, so those are shown against a server
stand-in that lists what a hostile server would; backslashes and ``..`` against the real one."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import paramiko
import pytest
from test_sftp import patients_csv, put, remote, sftp_engine, sshd  # noqa: F401 (fixtures)

from connectors.inbound.folder import DropFolder
from connectors.inbound.sftp import SftpChannel, is_plain_name
from engine.pipeline.file_settings import FileChannelSettings
from support.engine_process import wait_until

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
#: Names a hostile server might list, each aiming outside the folder or at another remote path.
HOSTILE_NAMES = ("../escaped.csv", "../../tmp/escaped.csv", "sub/escaped.csv", "..\\escaped.csv",
                 "nul\x00escaped.csv", "a..b.csv")


class HostileServer:
    """An SFTP client stand-in for a server that lists unsafe names beside a good one."""

    def __init__(self, names: list[str]):
        self.names = names
        self.fetched: list[str] = []
        self.renamed: list[tuple[str, str]] = []

    def listdir_attr(self, path: str) -> list[paramiko.SFTPAttributes]:
        listed = []
        for name in self.names:
            attributes = paramiko.SFTPAttributes()
            attributes.filename, attributes.st_mode, attributes.st_size, attributes.st_mtime = (
                name, stat.S_IFREG | 0o644, 40, 1700000000)
            listed.append(attributes)
        return listed

    def listdir(self, path: str) -> list[str]:
        return list(self.names)

    def get(self, remote_path: str, local_path: str) -> None:
        self.fetched.append(remote_path)
        Path(local_path).write_bytes(patients_csv("F-HOSTILE-1"))

    def rename(self, source: str, target: str) -> None:
        self.renamed.append((source, target))


@pytest.fixture
def channel(tmp_path) -> SftpChannel:
    settings = FileChannelSettings(name="partner", directory=tmp_path / "deep" / "inbox")
    folder = DropFolder(settings, receiver=None)
    for directory in (folder.root, folder.processing, folder.waiting, folder.done, folder.error):
        directory.mkdir(parents=True)
    return SftpChannel({"remote_directory": "/outbox"}, folder)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_name_with_a_path_separator_dots_or_nul_is_not_plain(name):
    assert not is_plain_name(name)


@pytest.mark.parametrize("name", ["letter.pdf", "letter.pdf.json", "100234_11506-3_20240501.pdf", ".hidden"])
def test_file_name_is_plain(name):
    assert is_plain_name(name)


def test_hostile_names_are_neither_fetched_nor_moved_and_the_good_file_is(channel, tmp_path, caplog):
    server = HostileServer([*HOSTILE_NAMES, "good.csv"])
    with caplog.at_level(logging.WARNING, logger="connectors.inbound.sftp"):
        channel.poll_once(server)  # the first look; the second finds the sizes held still
        channel.poll_once(server)
    assert server.fetched == ["/outbox/processing/good.csv"]
    assert all("escaped" not in source + target for source, target in server.renamed)
    assert (channel.folder.root / "good.csv").exists()
    assert not [p for p in tmp_path.rglob("*escaped*")]
    refusals = [r.getMessage() for r in caplog.records if "refused a remote file" in r.getMessage()]
    assert len(refusals) == len(HOSTILE_NAMES)  # once each, over both polls
    assert not any("escaped" in message for message in refusals)


def test_hostile_names_in_remote_processing_are_not_resumed(channel, tmp_path):
    server = HostileServer(list(HOSTILE_NAMES))
    channel._resume(server)
    assert server.fetched == [] and server.renamed == []
    assert not [p for p in tmp_path.rglob("*escaped*")]


def test_real_server_files_named_with_backslashes_or_dots_stay_there_and_the_next_file_is_fetched(
        tmp_path, simulator, sshd, remote):  # noqa: F811 (fixtures)
    with sftp_engine(tmp_path, simulator, sshd, remote) as running:
        put(remote, "back\\escaped.csv", patients_csv("F-BACKSLASH-1"))
        put(remote, "two..dots.csv", patients_csv("F-DOTS-1"))
        put(remote, "after.csv", patients_csv("F-AFTER-HOSTILE"))
        assert running.wait_settled("after.csv", timeout=60) == "done"
        assert (remote / "back\\escaped.csv").exists() and (remote / "two..dots.csv").exists()
        assert not (remote / "processing" / "two..dots.csv").exists()
        assert not [p for p in running.inbox.rglob("*escaped*")] + [p for p in running.inbox.rglob("two..dots*")]
        assert not running.search("Patient", f"{SYSTEM}|F-DOTS-1")
        wait_until(lambda: "refused a remote file whose name holds" in running.engine.log(),
                   message="the refusal in the log")
