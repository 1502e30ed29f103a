"""Whoever drops files may drop a symbolic link or a FIFO in place of a document or its sidecar:
each goes to error/ with a reason, never followed and never read (a link could name any file the
engine may read, a FIFO would block the channel), sidecars are read up to a limit, and the next
document is filed as usual."""

from __future__ import annotations

import json
import os

import pytest
import requests
from drop_engine import DropEngine, module_simulator  # noqa: F401 (a fixture)
from hl7.client import MLLPClient
from sample_documents import pdf

from connectors.inbound.folder import LOCK_FILE, DropFolder
from engine.pipeline.file_settings import FileChannelSettings
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
MRN = "F-LINK-1"
#: The channel's sidecar limit in these tests.
MAX_SIDECAR_BYTES = 2048


@pytest.fixture(scope="module")
def drop_engine(tmp_path_factory, module_simulator):  # noqa: F811 (the fixture above)
    running = DropEngine.start(tmp_path_factory.mktemp("untrusted"), module_simulator, unknown_patient="error",
                               max_sidecar_bytes=MAX_SIDECAR_BYTES)
    with MLLPClient("127.0.0.1", running.engine.mllp_port) as client:
        client.send_message(adt("A01", "CTRL-LINK", mrn=MRN))
    yield running
    assert running.engine.stop() == 0, running.engine.log()


@pytest.fixture
def outside(tmp_path):
    """A folder outside the drop folder, holding what a link might point to."""
    return tmp_path


def sidecar() -> bytes:
    return json.dumps({"patientIdentifier": f"{SYSTEM}|{MRN}", "title": "Letter"}).encode()


def document_references(drop_engine) -> int:
    bundle = requests.get(f"{drop_engine.engine.base_url}/fhir/DocumentReference", timeout=10).json()
    return bundle.get("total", len(bundle.get("entry", [])))


def a_good_document_is_filed_after(drop_engine, name: str) -> None:
    drop_engine.drop(name, pdf("Fictional letter after"), sidecar=json.loads(sidecar()))
    assert drop_engine.wait_settled(name) == "done"


def test_sidecar_linked_to_a_file_outside_the_folder_is_refused_never_followed(drop_engine, outside):
    (outside / "elsewhere.json").write_bytes(sidecar())
    before = document_references(drop_engine)
    os.symlink(outside / "elsewhere.json", drop_engine.inbox / "linked.pdf.json")
    drop_engine.drop("linked.pdf", pdf("Fictional letter with a linked sidecar"))
    assert drop_engine.wait_settled("linked.pdf") == "error"
    reason = drop_engine.reason("linked.pdf")
    assert "sidecar is a symbolic link, not a regular file; links are never followed" in reason
    assert os.path.islink(drop_engine.inbox / "error" / "linked.pdf.json")  # moved as a link, not copied
    assert document_references(drop_engine) == before
    a_good_document_is_filed_after(drop_engine, "after-linked-sidecar.pdf")


def test_fifo_sidecar_is_refused_without_blocking_the_channel(drop_engine):
    os.mkfifo(drop_engine.inbox / "piped.pdf.json")
    drop_engine.drop("piped.pdf", pdf("Fictional letter with a FIFO sidecar"))
    assert drop_engine.wait_settled("piped.pdf") == "error"
    assert "sidecar is a FIFO (named pipe), not a regular file" in drop_engine.reason("piped.pdf")
    a_good_document_is_filed_after(drop_engine, "after-fifo-sidecar.pdf")


def test_document_that_is_a_link_goes_to_error_unfollowed(drop_engine, outside):
    (outside / "elsewhere.pdf").write_bytes(pdf("Fictional letter outside the folder"))
    (drop_engine.inbox / "pointer.pdf.json").write_bytes(sidecar())
    os.symlink(outside / "elsewhere.pdf", drop_engine.inbox / "pointer.pdf")
    assert drop_engine.wait_settled("pointer.pdf") == "error"
    assert "file is a symbolic link, not a regular file" in drop_engine.reason("pointer.pdf")
    assert os.path.islink(drop_engine.inbox / "error" / "pointer.pdf")
    assert (outside / "elsewhere.pdf").exists()
    a_good_document_is_filed_after(drop_engine, "after-linked-document.pdf")


def test_document_that_is_a_fifo_goes_to_error_unopened(drop_engine):
    os.mkfifo(drop_engine.inbox / "pipe.pdf")
    assert drop_engine.wait_settled("pipe.pdf") == "error"
    assert "file is a FIFO (named pipe), not a regular file" in drop_engine.reason("pipe.pdf")
    a_good_document_is_filed_after(drop_engine, "after-fifo-document.pdf")


def test_sidecar_over_the_channel_limit_is_refused(drop_engine):
    padded = {"patientIdentifier": f"{SYSTEM}|{MRN}", "title": "x" * (MAX_SIDECAR_BYTES * 4)}
    drop_engine.drop("padded.pdf", pdf("Fictional letter with a large sidecar"), sidecar=padded)
    assert drop_engine.wait_settled("padded.pdf") == "error"
    size = len(json.dumps(padded).encode())
    assert f"sidecar is {size} bytes, over the limit of {MAX_SIDECAR_BYTES}" in drop_engine.reason("padded.pdf")
    a_good_document_is_filed_after(drop_engine, "after-large-sidecar.pdf")


def test_link_at_the_lock_file_name_is_not_followed(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    os.symlink(tmp_path / "created-elsewhere", inbox / LOCK_FILE)
    folder = DropFolder(FileChannelSettings(name="linked", directory=inbox), receiver=None)
    assert folder._take_lock() is False
    assert not os.path.lexists(tmp_path / "created-elsewhere") and not folder.owned.is_set()
