"""Content is told from the bytes, and text is decoded by BOM, then UTF-8, then the fallback."""

from __future__ import annotations

import codecs

from sample_documents import pdf, png

from mappings.files.kinds import CDA, CSV, FHIR_JSON, FHIR_NDJSON, HL7, OLE2, PDF, PNG, RTF, UNKNOWN, XML, detect
from mappings.files.text_encoding import decode_text


def test_documents_are_known_by_their_magic_numbers():
    assert (detect(pdf()), detect(png())) == (PDF, PNG)


def test_rtf_is_a_document_although_it_opens_with_a_brace_like_json():
    assert detect(b"{\\rtf1\\ansi {\\fonttbl}Fictional letter\\par}") == RTF


def test_ole2_compound_files_are_documents():
    assert detect(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)) == OLE2


def test_hl7_batches_and_messages_are_known_by_their_first_segment():
    assert detect(b"FHS|^~\\&|A\rMSH|^~\\&|A\r") == HL7 and detect(codecs.BOM_UTF8 + b"MSH|^~\\&|A\r") == HL7


def test_xml_is_cda_only_with_a_clinical_document_root():
    assert detect(b'<?xml version="1.0"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3"/>') == CDA
    assert detect(b'<?xml version="1.0"?>\n<invoice/>') == XML


def test_json_is_a_resource_or_ndjson():
    assert detect(b'{"resourceType": "Patient"}') == FHIR_JSON
    assert detect(b'{"resourceType": "Patient"}\n{"resourceType": "Patient"}\n') == FHIR_NDJSON


def test_csv_is_known_by_its_header():
    assert detect(b"mrn;first_name;last_name\n1;Ada;Example\n") == CSV


def test_binary_junk_is_unknown():
    assert detect(bytes(range(256))) == UNKNOWN


def test_text_that_is_not_utf8_is_read_with_the_fallback():
    assert decode_text("Zoë".encode("cp1252")) == "Zoë"
    assert decode_text("Zoë".encode("latin-1"), fallback="latin-1") == "Zoë"


def test_a_utf16_bom_decides_the_encoding():
    assert decode_text(codecs.BOM_UTF16_LE + "Zoë".encode("utf-16-le")) == "Zoë"
