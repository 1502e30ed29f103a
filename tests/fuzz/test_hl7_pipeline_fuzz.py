"""Arbitrary HL7-shaped messages through the pipeline with the bundled mapper: an MSH with drawn
separators and message type, then random segments whose fields hold components, repetitions,
subcomponents, escapes and unicode. Every one is answered accepted, error or rejected, with the ACK
code that goes with it; none raises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from connectors.inbound.hl7_ack import ACK_CODES, build_ack
from engine.pipeline.hl7 import OutcomeStatus

#: Message types the bundled mappings handle, and a few they do not.
MESSAGE_TYPES = ["ADT^A01", "ADT^A04", "ADT^A08", "ADT^A28", "ADT^A31", "ADT^A40", "DFT^P03", "MDM^T02",
                 "MDM^T11", "MFN^M02", "ORU^R01", "SIU^S12", "SIU^S15", "ADT^A01^ADT_A01", "ACK", "ZZZ^Z99", ""]
SEGMENT_IDS = ["PID", "PV1", "PV2", "EVN", "NK1", "MRG", "OBR", "OBX", "NTE", "ORC", "SCH", "AIL", "AIP", "AIG",
               "RGS", "TXA", "FT1", "MFI", "MFE", "STF", "PRA", "IN1", "DG1", "AL1", "ZPI", "MSH", "BHS", "FHS"]
#: Separator sets: the standard one, and others senders use (HL7 lets MSH-1 and MSH-2 be any).
SEPARATORS = [("|", "^~\\&"), ("|", "^~\\&#"), ("#", "^~\\&"), ("|", "^~\\"), ("|", "^"), ("!", "@$%*")]
#: Field values that mean something to a mapping: dates, ids, codes, nulls and broken escapes.
SPECIAL_VALUES = ["", '""', "20240101", "202401011230", "20241301", "19000101000000.0000+0000", "-1",
                  "9" * 40, "M", "F", "U", "A", "I", "F", "TX", "ST", "NM", "CE", "ED", "HD", "MR",
                  "\\X0D\\", "\\.br\\", "\\H\\bold\\N\\", "\\Zcustom\\", "\\", "\\F", "\\X\\", "\\Cxxyy\\", "&&&"]
#: Reasons the pipeline gives when a station raised where it should have refused the message.
CAUGHT_CRASHES = ("internal mapping error", "could not write resources", "message could not be stored")
SETTINGS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])

text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x0b\x1c"), max_size=12)


@st.composite
def field(draw, fs: str, enc: str) -> str:
    """One field: repetitions of components of subcomponents, each plain, special or escaped."""
    component, repetition = enc[0], enc[1] if len(enc) > 1 else "~"
    subcomponent = enc[3] if len(enc) > 3 else "&"
    leaf = st.one_of(text, st.sampled_from(SPECIAL_VALUES), st.sampled_from([fs, *enc]))

    def join(parts: list[str], separator: str) -> str:
        return separator.join(parts)

    subcomponents = st.lists(leaf, min_size=1, max_size=3).map(lambda p: join(p, subcomponent))
    components = st.lists(subcomponents, min_size=1, max_size=4).map(lambda p: join(p, component))
    return join(draw(st.lists(components, min_size=1, max_size=3)), repetition)


@st.composite
def hl7_message(draw) -> bytes:
    fs, enc = draw(st.sampled_from(SEPARATORS))
    message_type = draw(st.sampled_from(MESSAGE_TYPES)).replace("^", enc[0])
    msh = fs.join(["MSH", enc, draw(text), draw(st.sampled_from(["HOSP", "", "A&B"])), "CAREBRIDGE", "",
                   draw(st.sampled_from(["20240101120000", "", "not a date"])), "", message_type,
                   draw(st.sampled_from(["MSG1", "", "x" * 200])), draw(st.sampled_from(["P", "T", "D", ""])),
                   draw(st.sampled_from(["2.5.1", "2.3", "2.8", "", "9"])), "", "", "", "", "",
                   draw(st.sampled_from(["", "UNICODE UTF-8", "8859/1", "ASCII", "NONSENSE"]))])
    segments = [msh.rstrip(fs)]
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.one_of(st.sampled_from(SEGMENT_IDS), st.from_regex(r"\A[A-Z][A-Z0-9]{2}\Z")))
        fields = draw(st.lists(field(fs, enc), max_size=12))
        segments.append(fs.join([name, *fields]))
    separator = draw(st.sampled_from(["\r", "\r", "\r\n", "\n"]))
    raw = separator.join(segments) + draw(st.sampled_from([separator, ""]))
    return raw.encode(draw(st.sampled_from(["utf-8", "utf-8", "latin-1"])), errors="replace")


@pytest.fixture
def runtime(make_runtime):
    return make_runtime(mapper="bundled", workers=0)


@pytest.mark.timeout(120)
@SETTINGS
@given(raw=hl7_message())
def test_hl7_shaped_messages_are_accepted_or_refused_with_an_ack_never_an_exception(runtime, raw):
    outcome = runtime.pipeline.receive_hl7(raw, "mllp")
    event(f"{outcome.status} {outcome.error_code or ''}")
    assert outcome.status in (OutcomeStatus.ACCEPTED, OutcomeStatus.ERROR, OutcomeStatus.REJECTED)
    ack = build_ack(outcome)
    msa = next(s for s in ack.split("\r") if s.startswith("MSA"))
    fs = outcome.header.field_separator if outcome.header else "|"
    assert msa.split(fs)[1] == ACK_CODES[outcome.status]
    if outcome.status != OutcomeStatus.ACCEPTED:
        assert outcome.reason, "an AE or AR says why"
        # What the pipeline answers when a station raised: a bug caught, not a bad message.
        assert not outcome.reason.startswith(CAUGHT_CRASHES), outcome.reason
