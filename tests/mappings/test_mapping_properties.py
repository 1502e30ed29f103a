"""Whatever arrives, the mapper answers with resources or a mapping error naming what is wrong
with the message: never another exception, never an internal error (a bug), never a hang. Inputs are arbitrary bytes and golden messages mutated the ways
senders break them (bytes changed, separators inserted, segments dropped or repeated)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.errors import InternalMappingError, MappingError
from mappings.result import MappingResult
from mappings.v2.batch import split_batch

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.hl7"))
MESSAGES = [p.read_bytes() for p in GOLDEN]
SETTINGS = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
#: Characters with meaning in HL7 text, the ones most likely to break a mapping.
SPECIAL = st.sampled_from([b"|", b"^", b"~", b"\\", b"&", b"\r", b"\n", b'""', b"\\X0\\", b"\\.br\\", b"\xff", b"\x00", b"9" * 30])


def assert_maps_or_refuses(mapper, raw: bytes) -> None:
    try:
        result = mapper.map(raw)
    except InternalMappingError as error:
        pytest.fail(f"the mapper crashed ({error}); its log names where")
    except MappingError as error:
        assert error.location is None or isinstance(error.location, str)
        return
    assert isinstance(result, MappingResult)


@pytest.mark.timeout(60)
@SETTINGS
@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes_map_or_give_a_mapping_error(mapper, raw):
    assert_maps_or_refuses(mapper, raw)
    assert_maps_or_refuses(mapper, b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\r" + raw)


@st.composite
def mutated(draw):
    message = bytearray(draw(st.sampled_from(MESSAGES)))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(message)))
        action = draw(st.sampled_from(["insert", "replace", "delete", "duplicate_segment"]))
        if action == "insert":
            message[position:position] = draw(SPECIAL)
        elif action == "replace" and position < len(message):
            message[position] = draw(st.integers(0, 255))
        elif action == "delete":
            del message[position:position + draw(st.integers(1, 20))]
        else:
            segments = bytes(message).split(b"\r")
            index = draw(st.integers(0, len(segments) - 1))
            segments.insert(index, segments[index])
            message = bytearray(b"\r".join(segments))
    return bytes(message)


@pytest.mark.timeout(60)
@SETTINGS
@given(raw=mutated())
def test_mutated_messages_map_or_give_a_mapping_error(mapper, raw):
    assert_maps_or_refuses(mapper, raw)


@pytest.mark.timeout(60)
@settings(max_examples=100, deadline=1000)
@given(raw=st.binary(max_size=300))
def test_split_batch_never_raises(raw):
    for message in split_batch(raw):
        assert message.startswith(b"MSH")


def test_a_crash_inside_the_mapper_is_an_internal_error_the_properties_refuse(mapper):
    # Text instead of bytes reaches code that only bytes can: a bug, not a bad message.
    crash = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||55^^^HOSP^MR||Doe\r"
    with pytest.raises(InternalMappingError, match="internal mapping error"):
        mapper.map(crash)
    with pytest.raises(pytest.fail.Exception, match="the mapper crashed"):
        assert_maps_or_refuses(mapper, crash)
