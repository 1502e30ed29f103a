"""Reads what the engine must know of an HL7 v2 message before mapping it: MSH and its charset.

It is tolerant on purpose: the listener needs MSH-10 to echo in the ACK even when the rest
of the message is broken, and the message store records sender, type and control id.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, fields, replace

from mappings.errors import UnparseableMessage

#: MSH-18 values and the Python codecs that decode them (HL7 table 0211).
CHARSETS = {
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UNICODE UTF-16": "utf-16",
}

#: Decodes any bytes: the charset of a message no other charset decodes.
LAST_RESORT_CHARSET = "latin-1"

#: Segment separators senders really use; HL7 says CR, files and tools bring LF and CRLF.
_SEGMENT_BREAK = re.compile(r"\r\n|\n|\r")


@dataclass(frozen=True)
class MessageHeader:
    """The MSH fields the engine routes, stores and acknowledges by."""

    field_separator: str
    encoding_characters: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    message_code: str
    trigger_event: str
    structure: str
    control_id: str
    processing_id: str
    version: str
    charset: str

    @property
    def message_type(self) -> str:
        """``ADT^A01`` style: code and trigger event."""
        return f"{self.message_code}^{self.trigger_event}" if self.trigger_event else self.message_code

    @property
    def sender(self) -> str:
        return "|".join(p for p in (self.sending_application, self.sending_facility) if p)

    def transcoded(self, codec: str, text: str) -> "MessageHeader":
        """This header (read from the raw bytes as latin-1) as the message decoded with ``codec``
        (``text``) reads: each field's bytes decoded in ``codec``. In a codec where an ASCII byte
        may stand inside a character (a ``|`` as the second byte of a Shift-JIS character), the
        fields may split otherwise in the decoded text, so it is read from ``text`` instead."""
        if _ascii_preserving(codec):
            return replace(self, **{f.name: getattr(self, f.name).encode("latin-1").decode(codec, errors="replace")
                                    for f in fields(self)})
        return read_header(text)


def _ascii_preserving(codec: str) -> bool:
    """Whether every byte below 0x80 is that ASCII character in ``codec`` and never part of another."""
    name = codecs.lookup(codec).name
    return name in ("utf-8", "ascii") or name.startswith(("iso8859", "cp125", "latin"))


def _first_component(value: str, component_separator: str) -> str:
    return value.split(component_separator, 1)[0]


def read_header(raw: bytes | str) -> MessageHeader:
    """Parse MSH from raw bytes (or text); raise :class:`UnparseableMessage` when there is none."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    text = text.lstrip("\ufeff\x00 \t\r\n")
    if text.startswith("\u00ef\u00bb\u00bf"):  # a UTF-8 byte order mark read as latin-1
        text = text[3:]
    if not text.startswith("MSH") or len(text) < 8:
        raise UnparseableMessage("MSH", "message does not start with an MSH segment")
    field_separator = text[3]
    if field_separator.isalnum() or field_separator in "\r\n":
        raise UnparseableMessage("MSH-1", "invalid field separator")
    first_segment = _SEGMENT_BREAK.split(text, 1)[0]
    fields = first_segment.split(field_separator)
    # fields[0] is "MSH"; MSH-1 is the separator itself, so MSH-n is fields[n - 1].
    encoding_characters = fields[1] if len(fields) > 1 else ""
    if len(encoding_characters) < 1 or any(c.isalnum() for c in encoding_characters[:4]):
        raise UnparseableMessage("MSH-2", "invalid encoding characters")
    component_separator = encoding_characters[0]

    def msh(n: int) -> str:
        return fields[n - 1] if len(fields) > n - 1 else ""

    type_parts = msh(9).split(component_separator)
    return MessageHeader(
        field_separator=field_separator,
        encoding_characters=encoding_characters,
        sending_application=_first_component(msh(3), component_separator),
        sending_facility=_first_component(msh(4), component_separator),
        receiving_application=_first_component(msh(5), component_separator),
        receiving_facility=_first_component(msh(6), component_separator),
        message_code=type_parts[0] if type_parts else "",
        trigger_event=type_parts[1] if len(type_parts) > 1 else "",
        structure=type_parts[2] if len(type_parts) > 2 else "",
        control_id=msh(10),
        processing_id=_first_component(msh(11), component_separator),
        version=_first_component(msh(12), component_separator),
        charset=msh(18).split(encoding_characters[1] if len(encoding_characters) > 1 else "~")[0],
    )


def read_header_or_reason(raw: bytes | str) -> tuple[MessageHeader | None, str | None]:
    """The header when MSH can be read, else ``None`` and why not: the pipeline reads it once
    per message this way and hands both to the stations after it."""
    try:
        return read_header(raw), None
    except UnparseableMessage as exc:
        return None, str(exc)


def decode_message(raw: bytes, default_charset: str = "utf-8", forced_charset: str | None = None,
                   header: MessageHeader | None = None) -> str:
    """Decode a message and normalise segment breaks to CR.

    The charset is ``forced_charset`` when the channel sets one (a sender whose MSH-18 is
    wrong), else MSH-18's, else ``default_charset`` (MSH-18 empty or unknown). Bytes not
    valid in that charset are tried in ``default_charset`` (an "ASCII" message that is really
    UTF-8), and last in latin-1, which never fails, so no message is lost to decoding.
    ``header`` is the message's header when it was read already.
    """
    return _decode(raw, header or read_header(raw), default_charset, forced_charset)[0]


def decode_with_header(raw: bytes, header: MessageHeader, default_charset: str = "utf-8",
                       forced_charset: str | None = None) -> tuple[str, MessageHeader]:
    """The message decoded as :func:`decode_message` does, and its header (read once, from the
    raw bytes) as the decoded text reads."""
    text, codec = _decode(raw, header, default_charset, forced_charset)
    return text, header.transcoded(codec, text)


def _decode(raw: bytes, header: MessageHeader, default_charset: str, forced_charset: str | None) -> tuple[str, str]:
    declared = CHARSETS.get(header.charset.strip().upper(), None) if header.charset else None
    text, used = None, LAST_RESORT_CHARSET
    for codec in (forced_charset or declared or default_charset, default_charset, LAST_RESORT_CHARSET):
        try:
            text = raw.decode(codec)
            used = codec
            break
        except (LookupError, UnicodeDecodeError):
            continue
    text = text.lstrip("\ufeff\x00 \t\r\n")
    return "\r".join(s for s in _SEGMENT_BREAK.split(text) if s.strip()), used
