"""A message built to exhaust the engine (a field repeated 100,000 times, thousands of segments, a
resource with more identifiers than any patient has) gets AE at once naming the limit, is kept for
a replay, and the next message is answered as usual."""

from __future__ import annotations

import time
import tracemalloc

import hl7
import pytest

from engine.db.models import Message
from engine.pipeline.hl7_limits import Hl7Limits
from foundation.yaml_files import ConfigError
from mappings.v2.header import read_header
from mappings.v2.structure import most_repeated_field, segment_count
from support.hl7_messages import adt

#: The bundled test patient's PID-3, which the tests repeat.
MRN_FIELD = b"100001^^^HOSP^MR"


def with_pid3_repetitions(count: int, control_id: str) -> bytes:
    reps = b"~".join(b"%08d^^^HOSP^MR" % n for n in range(count))
    return adt("A01", control_id).replace(MRN_FIELD, reps)


def with_notes(count: int, control_id: str) -> bytes:
    return adt("A01", control_id) + b"".join(b"NTE|%d||a note\r" % n for n in range(count))


def answer(reply: bytes) -> tuple[str, ...]:
    """MSA-1 and MSA-2 of an ACK, then ERR-2 and ERR-3.1 when it has an ERR segment."""
    ack = hl7.parse(reply.decode())
    msa = (str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2]))
    if not any(str(segment[0]) == "ERR" for segment in ack):
        return msa
    err = ack.segment("ERR")
    return (*msa, str(err[2]), str(err[3][0][0]))


def stored(runtime, control_id: str) -> Message:
    with runtime.database.read() as session:
        return session.query(Message).filter(Message.control_id == control_id).one()


def test_field_repeated_100000_times_gets_ae_at_once_naming_the_limit(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    receiver = runtime.receivers["mllp"]
    raw = with_pid3_repetitions(100_000, "BIG-REPS")
    tracemalloc.start()
    started = time.monotonic()
    try:
        reply = receiver.receive(raw, peer="127.0.0.1:5000")
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msa1, msa2, location, code = answer(reply)
    assert (msa1, msa2, location, code) == ("AE", "BIG-REPS", "PID^3", "207")
    assert b"field repeats 100000 times, over the limit of 100 repetitions (CAREBRIDGE_HL7_MAX_REPETITIONS)" in reply
    assert elapsed < 2, f"took {elapsed:.1f} s"
    # The raw message is 1.9 MB; mapping it took hundreds of MB.
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"
    assert answer(receiver.receive(adt("A08", "AFTER-REPS"))) == ("AA", "AFTER-REPS")


def test_message_over_a_limit_is_kept_whole_as_an_error_naming_the_setting(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    raw = with_pid3_repetitions(500, "KEPT-REPS")
    runtime.receivers["mllp"].receive(raw)
    message = stored(runtime, "KEPT-REPS")
    assert (message.status, message.raw) == ("error", raw)
    assert message.error == ("PID-3: field repeats 500 times, over the limit of 100 repetitions "
                             "(CAREBRIDGE_HL7_MAX_REPETITIONS)")


def test_kept_message_maps_when_replayed_after_the_limit_is_raised(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    runtime.receivers["mllp"].receive(with_pid3_repetitions(150, "REPLAYED"))
    message_id = stored(runtime, "REPLAYED").id
    raised = make_runtime(mapper="bundled", workers=0, CAREBRIDGE_HL7_MAX_REPETITIONS="200",
                          CAREBRIDGE_HL7_MAX_IDENTIFIERS="200")
    assert raised.replay.replay(message_id).status == "accepted"
    assert stored(raised, "REPLAYED").status == "mapped"


def test_message_with_too_many_segments_gets_ae(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0, CAREBRIDGE_HL7_MAX_SEGMENTS="50")
    reply = runtime.receivers["mllp"].receive(with_notes(60, "MANY-SEGMENTS"))
    assert answer(reply) == ("AE", "MANY-SEGMENTS", "", "207")
    assert b"64 segments, over the limit of 50 (CAREBRIDGE_HL7_MAX_SEGMENTS)" in reply
    assert answer(runtime.receivers["mllp"].receive(adt("A08", "AFTER-SEGMENTS"))) == ("AA", "AFTER-SEGMENTS")


def test_resource_with_too_many_identifiers_gets_ae_before_anything_is_written(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0, CAREBRIDGE_HL7_MAX_IDENTIFIERS="3")
    reply = runtime.receivers["mllp"].receive(with_pid3_repetitions(5, "MANY-IDS"))
    assert answer(reply) == ("AE", "MANY-IDS", "", "207")
    assert b"a mapped Patient has 5 identifiers, over the limit of 3 (CAREBRIDGE_HL7_MAX_IDENTIFIERS)" in reply
    assert stored(runtime, "MANY-IDS").status == "error"
    with runtime.database.read() as session:
        assert runtime.repository.ids_with_token(session, "Patient", "identifier", "00000001") == []


def test_limits_from_the_environment_must_be_positive_whole_numbers():
    assert Hl7Limits.from_environ({}) == Hl7Limits(2000, 100, 100)
    assert Hl7Limits.from_environ({"CAREBRIDGE_HL7_MAX_SEGMENTS": "5000"}).max_segments == 5000
    with pytest.raises(ConfigError, match="CAREBRIDGE_HL7_MAX_REPETITIONS: 'many' is not a whole number"):
        Hl7Limits.from_environ({"CAREBRIDGE_HL7_MAX_REPETITIONS": "many"})
    with pytest.raises(ConfigError, match="CAREBRIDGE_HL7_MAX_IDENTIFIERS: must be 1 or more"):
        Hl7Limits.from_environ({"CAREBRIDGE_HL7_MAX_IDENTIFIERS": "0"})


def test_msh2_is_not_counted_as_a_repetition_and_msh_fields_are_numbered_as_hl7_does():
    raw = b"MSH|^~\\&|HIS|HOSP|||20260301||ADT^A01|C1|P|2.5.1||||||" + b"~".join([b"x"] * 5) + b"\rPID|1\r"
    assert most_repeated_field(raw, read_header(raw), 4) == ("MSH-18", 5)
    assert most_repeated_field(raw, read_header(raw), 5) is None


def test_segments_are_counted_across_cr_lf_and_crlf_without_blank_lines():
    raw = b"MSH|^~\\&|A\r\nEVN|A01\nPID|1\r\r\n\rPV1|1\r"
    assert segment_count(raw, 2) == 4
    assert segment_count(raw, 100) <= 100
