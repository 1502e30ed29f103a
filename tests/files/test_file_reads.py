"""A claimed file or sidecar is read only when it is a regular file, and never past a limit: a link
is not followed and a FIFO not waited on, even when either is swapped in after the first look."""

from __future__ import annotations

import os
import threading

import pytest

from engine.pipeline import file_reads
from engine.pipeline.file_reads import TooLarge, read_regular_file
from mappings.files.guards import Refused


def read_in_time(path, max_bytes: int = 1024, what: str = "file", seconds: float = 5):
    """``read_regular_file`` on a thread, so a read that blocks fails the test instead of hanging it."""
    outcome: dict = {}

    def run():
        try:
            outcome["data"] = read_regular_file(path, max_bytes, what)
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the read blocked"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["data"]


def test_regular_file_is_read_whole(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4 fictional")
    assert read_in_time(tmp_path / "scan.pdf") == b"%PDF-1.4 fictional"


def test_symbolic_link_is_refused_unfollowed(tmp_path):
    (tmp_path / "target.json").write_text('{"patientIdentifier": "x"}')
    os.symlink(tmp_path / "target.json", tmp_path / "scan.pdf.json")
    with pytest.raises(Refused, match="sidecar is a symbolic link, not a regular file"):
        read_in_time(tmp_path / "scan.pdf.json", what="sidecar")


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "scan.pdf.json")
    with pytest.raises(Refused, match=r"sidecar is a FIFO \(named pipe\), not a regular file"):
        read_in_time(tmp_path / "scan.pdf.json", what="sidecar")


def test_directory_is_refused(tmp_path):
    (tmp_path / "scan.pdf").mkdir()
    with pytest.raises(Refused, match="file is a directory"):
        read_in_time(tmp_path / "scan.pdf")


def test_file_over_the_limit_is_refused_with_its_size(tmp_path):
    (tmp_path / "big.json").write_bytes(b"x" * 5000)
    with pytest.raises(TooLarge, match="sidecar is 5000 bytes, over the limit of 1024") as refused:
        read_in_time(tmp_path / "big.json", what="sidecar")
    assert refused.value.size == 5000


@pytest.fixture
def looks_regular(monkeypatch, tmp_path):
    """``lstat`` says a regular file, as it did before the file was swapped for something else."""
    (tmp_path / "regular").write_bytes(b"")
    regular = os.lstat(tmp_path / "regular")
    monkeypatch.setattr(file_reads.os, "lstat", lambda path, **_: regular)


def test_link_swapped_in_after_the_first_look_is_not_followed(tmp_path, looks_regular):
    (tmp_path / "target.pdf").write_bytes(b"%PDF-1.4 outside")
    os.symlink(tmp_path / "target.pdf", tmp_path / "scan.pdf")
    with pytest.raises(Refused, match="file is a symbolic link"):
        read_in_time(tmp_path / "scan.pdf")


def test_fifo_swapped_in_after_the_first_look_is_not_waited_on(tmp_path, looks_regular):
    os.mkfifo(tmp_path / "scan.pdf")
    with pytest.raises(Refused, match="file is a FIFO"):
        read_in_time(tmp_path / "scan.pdf")
