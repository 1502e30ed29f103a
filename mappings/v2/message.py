"""Turns decoded HL7 v2 text into a regular tree the mapping reads: segments, fields,
repetitions, components, subcomponents, each level always a list, leaves unescaped.

python-hl7 does the parsing and the escape handling; its tree collapses levels that hold
a single value, so this module evens it out once per message instead of every reader
guessing the depth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import hl7
import hl7.util

from mappings.errors import UnparseableMessage

#: python-hl7 logs the whole field when it meets an escape it cannot decode, and a field
#: holds patient data; the mapping never logs values, so that logger stays quiet.
logging.getLogger(hl7.util.__file__).setLevel(logging.CRITICAL + 1)

#: HL7 formatting escapes (2.10.6) that python-hl7 turns into CR; FHIR text wants newlines.
_FORMATTING = {".br": "\n", ".sp": "\n", ".ce": "\n", ".fi": "", ".nf": ""}

#: The explicit HL7 null: the sender says "delete this value".
HL7_NULL = '""'

#: A repetition: its components, each a list of subcomponent strings.
Rep = list[list[str]]
#: A field: its repetitions.
Field = list[Rep]


@dataclass
class Segment:
    """One segment; ``fields[n]`` is field n (MSH numbered as HL7 does, MSH-1 the separator)."""

    name: str
    fields: list[Field]

    def field(self, number: int) -> Field:
        return self.fields[number] if 0 < number < len(self.fields) else []


def _as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value)


def _unescape(message: hl7.Message, text: str) -> str:
    if message.esc not in text:
        return text
    try:
        return hl7.util.unescape(message, text, _FORMATTING)
    except (ValueError, IndexError):
        # A malformed escape (\.brX\, a lone escape character) keeps its raw text rather than
        # losing the field; python-hl7 raises on some of them.
        return text


def _field(message: hl7.Message, raw) -> Field:
    reps: Field = []
    for rep in _as_list(raw) if isinstance(raw, hl7.Field) else [raw]:
        components = [rep] if isinstance(rep, str) else list(rep)
        reps.append([[_unescape(message, s) for s in _as_list(c)] for c in components])
    return reps


def parse_segments(text: str) -> list[Segment]:
    """Parse CR-separated HL7 text (see :func:`mappings.v2.header.decode_message`) into segments."""
    try:
        message = hl7.parse(text)
    except Exception as exc:  # python-hl7 raises assorted errors on broken input
        raise UnparseableMessage("MSH", f"not parseable as HL7 v2 ({type(exc).__name__})") from None
    segments = []
    for raw_segment in message:
        name = str(raw_segment[0][0]) if len(raw_segment) and len(raw_segment[0]) else ""
        fields: list[Field] = [[[[name]]]]
        for index, raw in enumerate(list(raw_segment)[1:], start=1):
            if name == "MSH" and index <= 2:
                # MSH-1 and MSH-2 are the separators themselves, never split or unescaped.
                fields.append([[[str(raw[0]) if len(raw) else ""]]])
            else:
                fields.append(_field(message, raw))
        segments.append(Segment(name.strip().upper(), fields))
    return segments
