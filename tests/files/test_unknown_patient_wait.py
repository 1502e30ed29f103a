"""A document for a patient not known yet waits in waiting/ and is filed once the patient arrives."""

from __future__ import annotations

import hashlib

import pytest
from drop_engine import DropEngine
from hl7.client import MLLPClient
from sample_documents import pdf

from support.engine_process import wait_until
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def test_document_waits_for_its_patient_then_is_filed(tmp_path, simulator):
    running = DropEngine.start(tmp_path, simulator, unknown_patient="wait")
    try:
        content = pdf("Fictional early letter")
        running.drop("early.pdf", content, sidecar={"patientIdentifier": "F-LATE-1"})
        wait_until(lambda: (running.inbox / "waiting" / "early.pdf").exists(), message="the file in waiting/")
        assert (running.inbox / "waiting" / "early.pdf.json").exists()
        with MLLPClient("127.0.0.1", running.engine.mllp_port) as client:
            client.send_message(adt("A01", "CTRL-LATE", mrn="F-LATE-1"))
        assert running.wait_settled("early.pdf") == "done"
        [patient] = running.search("Patient", f"{SYSTEM}|F-LATE-1")
        [reference] = running.search("DocumentReference",
                                     f"urn:carebridge:document-sha256|{hashlib.sha256(content).hexdigest()}")
        assert reference["subject"] == {"reference": f"Patient/{patient['id']}"}
    finally:
        assert running.engine.stop() == 0, running.engine.log()


def test_document_whose_patient_never_comes_goes_to_error_after_wait_max(tmp_path, simulator):
    running = DropEngine.start(tmp_path, simulator, unknown_patient="wait", wait_max_seconds=2)
    try:
        running.drop("orphan.pdf", pdf("Fictional letter for nobody"), sidecar={"patientIdentifier": "F-NEVER-1"})
        wait_until(lambda: (running.inbox / "waiting" / "orphan.pdf").exists(), message="the file in waiting/")
        assert running.wait_settled("orphan.pdf") == "error"
        reason = running.reason("orphan.pdf")
        assert "after waiting" in reason and "F-NEVER-1" not in reason
        assert (running.inbox / "error" / "orphan.pdf.json").exists()
    finally:
        assert running.engine.stop() == 0, running.engine.log()
