"""Files the engine must refuse end in error/ with a reason beside them, and the channel goes on."""

from __future__ import annotations

import gzip
import io
import os
import zipfile

import pytest
import requests
from drop_engine import DropEngine, module_simulator  # noqa: F401 (a fixture)
from sample_documents import pdf

pytestmark = pytest.mark.e2e

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


@pytest.fixture(scope="module")
def drop_engine(tmp_path_factory, module_simulator):
    """An engine whose inbox refuses documents of unknown patients."""
    running = DropEngine.start(tmp_path_factory.mktemp("bad"), module_simulator, unknown_patient="error")
    yield running
    assert running.engine.stop() == 0, running.engine.log()


def test_truncated_pdf_is_refused(drop_engine):
    drop_engine.drop("cut.pdf", pdf()[:-60], sidecar={"patientIdentifier": "anyone"})
    assert drop_engine.wait_settled("cut.pdf") == "error"
    assert "truncated" in drop_engine.reason("cut.pdf")
    assert (drop_engine.inbox / "error" / "cut.pdf.json").exists()


def test_xml_with_an_external_entity_is_refused_unread(drop_engine):
    xml = (b'<?xml version="1.0"?>\n<!DOCTYPE ClinicalDocument [<!ENTITY leak SYSTEM "file:///etc/passwd">]>\n'
           b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&leak;</title></ClinicalDocument>\n')
    drop_engine.drop("entity.xml", xml)
    assert drop_engine.wait_settled("entity.xml") == "error"
    reason = drop_engine.reason("entity.xml")
    assert "DTDForbidden" in reason and "root:" not in reason


def test_deeply_nested_xml_is_refused(drop_engine):
    xml = b'<ClinicalDocument xmlns="urn:hl7-org:v3">' + b"<a>" * 5000 + b"</a>" * 5000 + b"</ClinicalDocument>"
    drop_engine.drop("deep.xml", xml)
    assert drop_engine.wait_settled("deep.xml") == "error"
    assert "nests deeper" in drop_engine.reason("deep.xml")


def test_sparse_file_over_the_size_limit_is_refused_without_reading_it(drop_engine):
    partial = drop_engine.inbox / "huge.pdf.tmp"
    with open(partial, "wb") as handle:
        handle.truncate(1024 ** 3)  # 1 GiB, sparse: no disk used
    os.replace(partial, drop_engine.inbox / "huge.pdf")
    assert drop_engine.wait_settled("huge.pdf") == "error"
    assert "over the channel's limit" in drop_engine.reason("huge.pdf")


def test_zip_bomb_is_refused(drop_engine):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * (40 * 1024 * 1024))
    drop_engine.drop("bomb.zip", buffer.getvalue(), sidecar={"patientIdentifier": "anyone"})
    assert drop_engine.wait_settled("bomb.zip") == "error"
    assert "compression bomb" in drop_engine.reason("bomb.zip")


def test_gzip_bomb_is_refused(drop_engine):
    drop_engine.drop("bomb.hl7.gz", gzip.compress(b"\0" * (40 * 1024 * 1024)))
    assert drop_engine.wait_settled("bomb.hl7.gz") == "error"
    assert "compression bomb" in drop_engine.reason("bomb.hl7.gz")


def test_binary_junk_is_refused_as_unrecognised(drop_engine):
    drop_engine.drop("junk.pdf", b"\x00\x01\x02" + bytes(range(256)) * 16)
    assert drop_engine.wait_settled("junk.pdf") == "error"
    assert "content not recognised" in drop_engine.reason("junk.pdf")


def test_document_for_an_unknown_patient_is_refused_without_naming_the_patient(drop_engine):
    drop_engine.drop("letter.pdf", pdf(), sidecar={"patientIdentifier": f"{SYSTEM}|NOBODY-77"})
    assert drop_engine.wait_settled("letter.pdf") == "error"
    reason = drop_engine.reason("letter.pdf")
    assert "no Patient" in reason and "NOBODY-77" not in reason


def test_document_whose_bare_identifier_matches_two_patients_is_refused(drop_engine):
    for system in ("urn:example:clinic-a", "urn:example:clinic-b"):
        patient = {"resourceType": "Patient", "identifier": [{"system": system, "value": "F-TWICE-1"}]}
        requests.post(f"{drop_engine.engine.base_url}/fhir/Patient", json=patient, timeout=10).raise_for_status()
    drop_engine.drop("twice.pdf", pdf(), sidecar={"patientIdentifier": "F-TWICE-1"})
    assert drop_engine.wait_settled("twice.pdf") == "error"
    reason = drop_engine.reason("twice.pdf")
    assert "matches 2 patients" in reason and "F-TWICE-1" not in reason


def test_channel_goes_on_after_a_bad_file(drop_engine):
    drop_engine.drop("before.pdf", b"\x00garbage")
    drop_engine.drop("after.csv", b"mrn,first_name,last_name\nF-AFTER-1,Al,After\n")
    assert drop_engine.wait_settled("before.pdf") == "error"
    assert drop_engine.wait_settled("after.csv") == "done"
    assert drop_engine.search("Patient", f"{SYSTEM}|F-AFTER-1")
