"""Counts what an HL7 v2 message is built of (segments, repetitions of a field) on its raw bytes,
without parsing it, so a message too large to map is known for the price of a scan.

The separators are ASCII bytes read from MSH, and the mapping decodes a message in a charset
where each such byte is that character (a UTF-16 message has no readable MSH and never reaches
it), so the counts here are what the parsed message would hold.
"""

from __future__ import annotations

import re

from mappings.v2.header import MessageHeader

#: Segment breaks as senders send them (CR, LF, CRLF).
_BREAK = re.compile(rb"\r\n|\n|\r")
#: Segments whose second field is the encoding characters themselves, not data.
_HEADER_SEGMENTS = (b"MSH", b"FHS", b"BHS")


def segment_count(raw: bytes, at_most: int) -> int:
    """How many segments ``raw`` holds (blank lines are not segments). Exact up to ``at_most``; above
    it the count may include blank lines, which is enough to know the message is over."""
    breaks = raw.count(b"\r") + raw.count(b"\n") - raw.count(b"\r\n")
    if breaks + 1 <= at_most:
        return breaks + 1
    return sum(1 for segment in _BREAK.split(raw) if segment.strip())


def most_repeated_field(raw: bytes, header: MessageHeader, at_most: int) -> tuple[str, int] | None:
    """The first field with more than ``at_most`` repetitions, as its location (``PID-3``) and count;
    ``None`` when no field has that many."""
    encoding = header.encoding_characters
    if len(encoding) < 2:
        return None  # no repetition separator: every field holds one repetition
    repetition = encoding[1].encode("latin-1")
    if raw.count(repetition) <= at_most:
        return None  # a field cannot hold more separators than the whole message
    field_separator = header.field_separator.encode("latin-1")
    for segment in _BREAK.split(raw):
        if segment.count(repetition) <= at_most:
            continue
        name = segment[:3]
        fields = segment.split(field_separator)
        for index, value in enumerate(fields[1:], start=1):
            if index == 1 and name in _HEADER_SEGMENTS:
                continue  # MSH-2, the encoding characters
            repetitions = value.count(repetition) + 1
            if repetitions > at_most:
                # MSH-1 is the field separator itself, so MSH's fields are numbered one higher.
                number = index + 1 if name in _HEADER_SEGMENTS else index
                return f"{name.decode('latin-1').strip().upper()}-{number}", repetitions
    return None
