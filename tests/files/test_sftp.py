"""The SFTP poller does what a drop folder does against a remote directory: here a real OpenSSH
server on loopback, started by the test."""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import paramiko
import pytest
from drop_engine import DropEngine
from hl7.client import MLLPClient
from loopback_sshd import start_sshd
from sample_documents import pdf

from engine.config.engine_config import ChannelConfig
from engine.pipeline.file_settings import FileChannelSettings
from support.engine_process import wait_until
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


@pytest.fixture
def sshd(tmp_path):
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


@pytest.fixture
def remote(tmp_path) -> Path:
    """The directory the SFTP server offers."""
    directory = tmp_path / "remote"
    directory.mkdir()
    return directory


@contextmanager
def sftp_engine(tmp_path, simulator, sshd, remote: Path, **options) -> Iterator[DropEngine]:
    """A running engine whose channel polls ``remote``; it must stop cleanly after the test."""
    access = {"known_hosts_path": str(sshd.known_hosts_path), **options}
    running = DropEngine.start(tmp_path, simulator, type="sftp", host="127.0.0.1", port=sshd.port,
                               username=sshd.username, private_key_path=str(sshd.private_key_path),
                               remote_directory=str(remote), **access)
    try:
        yield running
    finally:
        assert running.engine.stop() == 0, running.engine.log()


def put(remote: Path, name: str, content: bytes) -> None:
    """Upload the way senders do: a partial name, then a rename."""
    (remote / f"{name}.tmp").write_bytes(content)
    os.replace(remote / f"{name}.tmp", remote / name)


def patients_csv(mrn: str) -> bytes:
    return f"mrn,first_name,last_name\n{mrn},Sal,Sftp\n".encode()


def copies(directory: Path, name: str) -> list[Path]:
    """``name`` and its stamped copies in ``directory``, reasons left out."""
    return sorted(p for p in directory.glob(f"{name}*") if not p.name.endswith((".reason", ".json")))


def test_file_on_the_sftp_server_is_fetched_filed_and_moved_to_remote_done(tmp_path, simulator, sshd, remote):
    with sftp_engine(tmp_path, simulator, sshd, remote) as running:
        with MLLPClient("127.0.0.1", running.engine.mllp_port) as client:
            client.send_message(adt("A01", "CTRL-SFTP", mrn="F-SFTP-1"))
        content = pdf("Fictional letter over SFTP")
        (remote / "letter.pdf.json").write_text(f'{{"patientIdentifier": "{SYSTEM}|F-SFTP-1"}}')
        put(remote, "letter.pdf", content)
        assert running.wait_settled("letter.pdf", timeout=60) == "done"
        wait_until(lambda: (remote / "done" / "letter.pdf").exists(), message="the remote file in done/")
        assert not (remote / "letter.pdf").exists()
        [reference] = running.search("DocumentReference",
                                     f"urn:carebridge:document-sha256|{hashlib.sha256(content).hexdigest()}")
        [patient] = running.search("Patient", f"{SYSTEM}|F-SFTP-1")
        assert reference["subject"] == {"reference": f"Patient/{patient['id']}"}


def test_second_file_of_one_name_waits_on_the_server_until_the_first_is_received(tmp_path, simulator, sshd,
                                                                                   remote):
    # A long settle keeps the first file in the local folder while the second is on the server.
    with sftp_engine(tmp_path, simulator, sshd, remote, settle_seconds=3) as running:
        put(remote, "same.csv", patients_csv("F-SAME-1"))
        wait_until(lambda: (running.inbox / "same.csv").exists(), message="the first file fetched")
        put(remote, "same.csv", patients_csv("F-SAME-2"))
        wait_until(lambda: len(copies(running.inbox / "done", "same.csv")) == 2, timeout=60,
                   message="both files in done/")
        assert running.search("Patient", f"{SYSTEM}|F-SAME-1") and running.search("Patient", f"{SYSTEM}|F-SAME-2")
        wait_until(lambda: len(copies(remote / "done", "same.csv")) == 2, message="both remote copies in done/")


def test_resumed_remote_file_is_fetched_unless_its_very_bytes_already_arrived(tmp_path, simulator, sshd, remote):
    # As if an earlier run claimed both on the server and died: one before fetching it, one after.
    (remote / "processing").mkdir()
    (remote / "processing" / "new.csv").write_bytes(patients_csv("F-RESUME-NEW"))
    (remote / "processing" / "fetched.csv").write_bytes(patients_csv("F-RESUME-FETCHED"))
    done = tmp_path / "inbox" / "done"
    done.mkdir(parents=True)
    (done / "new.csv").write_bytes(patients_csv("F-RESUME-OLD"))  # an older file of the same name
    (done / "fetched.csv").write_bytes(patients_csv("F-RESUME-FETCHED"))
    with sftp_engine(tmp_path, simulator, sshd, remote) as running:
        wait_until(lambda: running.search("Patient", f"{SYSTEM}|F-RESUME-NEW"), timeout=60,
                   message="the resumed file filed")
        wait_until(lambda: (remote / "done" / "new.csv").exists() and (remote / "done" / "fetched.csv").exists(),
                   message="both remote files in done/")
        assert len(copies(done, "new.csv")) == 2
        assert copies(done, "fetched.csv") == [done / "fetched.csv"]
        assert not running.search("Patient", f"{SYSTEM}|F-RESUME-FETCHED")


def test_remote_file_over_the_limit_goes_to_remote_error_without_being_fetched(tmp_path, simulator, sshd, remote):
    with sftp_engine(tmp_path, simulator, sshd, remote, max_file_bytes=2000) as running:
        put(remote, "huge.pdf", pdf("x" * 5000))
        wait_until(lambda: (remote / "error" / "huge.pdf.reason").exists(), message="the remote reason")
        assert "over the channel's limit of 2000" in (remote / "error" / "huge.pdf.reason").read_text()
        assert (remote / "error" / "huge.pdf").exists() and not (remote / "huge.pdf").exists()
        assert not list(running.inbox.rglob("huge.pdf*"))


def test_sidecar_of_a_remote_document_over_the_limit_goes_with_it_to_remote_error(tmp_path, simulator, sshd,
                                                                                   remote):
    with sftp_engine(tmp_path, simulator, sshd, remote, max_file_bytes=2000) as running:
        (remote / "huge.pdf.json").write_text(f'{{"patientIdentifier": "{SYSTEM}|F-HUGE-1"}}')
        put(remote, "huge.pdf", pdf("x" * 5000))
        wait_until(lambda: (remote / "error" / "huge.pdf.json").exists(), message="the sidecar in remote error/")
        assert (remote / "error" / "huge.pdf").exists() and (remote / "error" / "huge.pdf.reason").exists()
        assert not list(running.inbox.rglob("huge.pdf*"))


def test_sidecar_fetched_before_its_document_was_refused_on_the_server_says_so_in_error(tmp_path, simulator, sshd,
                                                                                        remote):
    # Without the server's word the sidecar would wait this long for its document.
    with sftp_engine(tmp_path, simulator, sshd, remote, max_file_bytes=2000, orphan_sidecar_seconds=600) as running:
        put(remote, "late.pdf.json", f'{{"patientIdentifier": "{SYSTEM}|F-LATE-1"}}'.encode())
        wait_until(lambda: (running.inbox / "late.pdf.json").exists(), message="the sidecar fetched")
        put(remote, "late.pdf", pdf("x" * 5000))
        reason = running.inbox / "error" / "late.pdf.json.reason"
        wait_until(reason.exists, timeout=30, message="the sidecar in local error/")
        assert "document was refused on the SFTP server" in reason.read_text()
        assert "over the channel's limit of 2000" in reason.read_text()
        assert (remote / "error" / "late.pdf").exists()


def test_host_key_first_seen_is_kept_when_the_channel_opts_in(tmp_path, simulator, sshd, remote):
    with sftp_engine(tmp_path, simulator, sshd, remote, known_hosts_path=None, trust_first_host_key=True) as running:
        put(remote, "first.csv", patients_csv("F-TOFU-1"))
        assert running.wait_settled("first.csv", timeout=60) == "done"
        kept = paramiko.HostKeys(str(running.inbox / ".sftp_known_hosts"))
        expected = paramiko.HostKeys(str(sshd.known_hosts_path))
        assert kept.lookup(f"[127.0.0.1]:{sshd.port}") == expected.lookup(f"[127.0.0.1]:{sshd.port}")


def test_sftp_channel_without_a_known_host_key_is_a_configuration_error():
    channel = ChannelConfig(name="partner", type="sftp", options={
        "directory": "/tmp/partner", "host": "sftp.example.org", "username": "carebridge",
        "remote_directory": "/outbox"})
    with pytest.raises(ValueError, match="known_hosts_path"):
        FileChannelSettings.from_config(channel, Path("."))
