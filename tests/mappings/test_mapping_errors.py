"""What the mapper says about messages it cannot map: a mapping error naming the segment
and field, an unsupported type, or an unparseable message; never any other exception."""

from __future__ import annotations

import pytest

from mappings.errors import MappingError, UnparseableMessage, UnsupportedMessage

MSH = b"MSH|^~\\&|EPIC|HOSP|CB|CB|20240102123000||%s|1|P|2.5\r"


def test_a_message_type_without_a_mapping_is_unsupported(mapper):
    with pytest.raises(UnsupportedMessage) as error:
        mapper.map(MSH % b"QRY^Q01" + b"QRD|1\r")
    assert error.value.message_type == "QRY^Q01"
    assert error.value.hl7_error_code == "200"


def test_bytes_without_msh_are_unparseable(mapper):
    with pytest.raises(UnparseableMessage):
        mapper.map(b"hello world")


def test_an_invalid_birth_date_names_pid_7_without_the_value(mapper):
    with pytest.raises(MappingError) as error:
        mapper.map(MSH % b"ADT^A04" + b"PID|1||123^^^HOSP^MR||Doe^J||19801399|F\r")
    assert error.value.location == "PID-7"
    assert "19801399" not in str(error.value)


def test_a_patient_without_identifiers_names_pid_3(mapper):
    with pytest.raises(MappingError) as error:
        mapper.map(MSH % b"ADT^A04" + b"PID|1||||Doe^J\r")
    assert error.value.location == "PID-3"
