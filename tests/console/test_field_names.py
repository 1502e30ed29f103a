"""The names the console shows for HL7 v2 segments and fields: every segment the engine maps has
them, they are the guide's where it has the segment, and the table regenerates from the guide's CSVs
without a change."""

from __future__ import annotations

import shutil

import pytest

from mappings.v2.field_names import TABLE, field_name, regenerate, segment_name
from support.config import ROOT

#: The segments of the message structures the engine maps (2.3 to 2.5.1).
MAPPED_SEGMENTS = ("MSH", "EVN", "PID", "PD1", "NK1", "PV1", "PV2", "OBR", "OBX", "ORC", "NTE", "AL1", "DG1", "IN1",
                   "GT1", "SCH", "AIS", "AIG", "AIL", "AIP", "RGS", "TXA", "FT1", "MRG", "PRB", "ODS", "ODT")
#: The guide's segment tables, in the shared folder beside the checkout.
GUIDE_SEGMENTS = ROOT.parent / "shared" / "v2-to-fhir" / "mappings" / "segments"


@pytest.mark.parametrize("segment", MAPPED_SEGMENTS)
def test_every_mapped_segment_has_a_name_and_named_fields(segment):
    assert segment_name(segment)
    assert field_name(segment, 1)


@pytest.mark.parametrize("segment, number, name", [
    ("PID", 5, "Patient Name"), ("PID", 3, "Patient Identifier List"), ("MSH", 9, "Message Type"),
    ("MSH", 10, "Message Control ID"), ("MSH", 4, "Sending Facility"), ("OBX", 5, "Observation Value"),
    ("MSA", 1, "Acknowledgment Code"), ("GT1", 3, "Guarantor Name"), ("FT1", 7, "Transaction Code"),
    ("PRB", 3, "Problem ID"), ("ERR", 3, "HL7 Error Code"), ("RGS", 3, "Resource Group ID"),
])
def test_fields_are_named_as_hl7_names_them(segment, number, name):
    assert field_name(segment, number) == name


def test_a_segment_or_field_the_table_lacks_has_no_name():
    assert segment_name("ZPI") is None and field_name("ZPI", 1) is None
    assert field_name("PID", 99) is None


@pytest.mark.skipif(not GUIDE_SEGMENTS.is_dir(), reason=f"the guide's CSVs are not at {GUIDE_SEGMENTS}")
def test_the_table_regenerates_from_the_guide_unchanged(tmp_path):
    copy = tmp_path / TABLE.name
    shutil.copy(TABLE, copy)
    regenerate(GUIDE_SEGMENTS, copy)
    assert copy.read_text(encoding="utf-8") == TABLE.read_text(encoding="utf-8")
