"""Documents from files reach Carepatron through the routes: a PDF as a client's file, the
same way documents from MDM do."""

from __future__ import annotations

import pytest
from drop_engine import DropEngine
from hl7.client import MLLPClient
from sample_documents import pdf

from support.engine_process import wait_until
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def test_dropped_pdf_becomes_a_file_of_the_client_at_carepatron(tmp_path, simulator):
    running = DropEngine.start(tmp_path, simulator)
    try:
        with MLLPClient("127.0.0.1", running.engine.mllp_port) as client:
            client.send_message(adt("A01", "CTRL-CP-DOC", mrn="F-CP-1"))
        content = pdf("Fictional letter for Carepatron")
        running.drop("letter.pdf", content, sidecar={"patientIdentifier": f"{SYSTEM}|F-CP-1", "title": "Letter"})
        assert running.wait_settled("letter.pdf") == "done"
        [client_record] = wait_until(lambda: simulator.records("clients"), message="the client at Carepatron")
        [uploaded] = wait_until(lambda: simulator.records("files"), timeout=20, message="the file at Carepatron")
        assert uploaded["clientId"] == client_record["id"]
        assert simulator.file_content(uploaded["id"]) == content
    finally:
        assert running.engine.stop() == 0, running.engine.log()
