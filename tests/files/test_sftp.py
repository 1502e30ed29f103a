"""The SFTP poller does what a drop folder does against a remote directory: here a real OpenSSH
server on loopback, started by the test."""

from __future__ import annotations

import hashlib
import os

import paramiko
import pytest
from hl7.client import MLLPClient

from drop_engine import DropEngine
from loopback_sshd import start_sshd
from sample_documents import pdf
from support.engine_process import wait_until
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


@pytest.fixture
def sshd(tmp_path):
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


def test_file_on_the_sftp_server_is_fetched_filed_and_moved_to_remote_done(tmp_path, simulator, sshd):
    remote = tmp_path / "remote"
    remote.mkdir()
    running = DropEngine.start(tmp_path, simulator, type="sftp", host="127.0.0.1", port=sshd.port,
                               username=sshd.username, private_key_path=str(sshd.private_key_path),
                               remote_directory=str(remote))
    try:
        with MLLPClient("127.0.0.1", running.engine.mllp_port) as client:
            client.send_message(adt("A01", "CTRL-SFTP", mrn="F-SFTP-1"))
        content = pdf("Fictional letter over SFTP")
        (remote / "letter.pdf.json").write_text(f'{{"patientIdentifier": "{SYSTEM}|F-SFTP-1"}}')
        (remote / "letter.pdf.tmp").write_bytes(content)
        os.replace(remote / "letter.pdf.tmp", remote / "letter.pdf")
        assert running.wait_settled("letter.pdf", timeout=60) == "done"
        wait_until(lambda: (remote / "done" / "letter.pdf").exists(), message="the remote file in done/")
        assert not (remote / "letter.pdf").exists()
        [reference] = running.search("DocumentReference",
                                     f"urn:carebridge:document-sha256|{hashlib.sha256(content).hexdigest()}")
        [patient] = running.search("Patient", f"{SYSTEM}|F-SFTP-1")
        assert reference["subject"] == {"reference": f"Patient/{patient['id']}"}
    finally:
        assert running.engine.stop() == 0, running.engine.log()
