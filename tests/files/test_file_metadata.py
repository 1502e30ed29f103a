"""A document's patient, type and date come from its sidecar or the channel's file-name pattern."""

from __future__ import annotations

import pytest

from mappings.files.guards import Refused
from mappings.files.metadata import compile_pattern, from_file_name, read_sidecar


def test_pattern_gives_patient_type_and_date():
    found = from_file_name("100234_11506-3_20240501.pdf", compile_pattern("{mrn}_{type}_{yyyymmdd}.{ext}"),
                           "urn:oid:1.2.3")
    assert (found.patient_identifier, found.type, found.date) == ("urn:oid:1.2.3|100234", "11506-3", "2024-05-01")


def test_name_not_matching_the_pattern_gives_nothing():
    assert from_file_name("scan.pdf", compile_pattern("{mrn}_{type}_{yyyymmdd}.{ext}")) is None


def test_unknown_placeholder_is_a_configuration_error():
    with pytest.raises(ValueError, match="unknown placeholder"):
        compile_pattern("{nhi}.pdf")


def test_sidecar_without_patient_identifier_is_refused():
    with pytest.raises(Refused, match="patientIdentifier"):
        read_sidecar(b'{"type": "11506-3"}')
