"""An HL7 v2 file (one message, an FHS/BHS batch, or messages simply concatenated): each message
goes through the pipeline exactly as if it had arrived over MLLP.

Each message is stored with ``peer = file:<file message id>#<n>``, so a file resumed after a
crash sends on only the messages that did not get through the first time. A failure of the
database on any message is raised rather than recorded against the message (MLLP answers it
with AE or AR for the sender to resend; a file has no sender): the file stays in processing/
and, tried again, resumes at that message.

Text is read like the channel's other text files: a wide encoding found by its BOM, and a
message that names no charset (MSH-18) and is not UTF-8 in the channel's ``fallback_charset``;
such messages are sent on as UTF-8.
"""

from __future__ import annotations

from connectors.inbound.file_guards import Refused
from connectors.inbound.text_encoding import DEFAULT_FALLBACK_CHARSET, detect_encoding
from engine.message_store import MessageStore, StoredMessage
from engine.models import MessageStatus
from engine.pipeline import Pipeline
from mappings.batch import split_batch
from mappings.errors import MappingError
from mappings.hl7_header import read_header

#: Statuses of a message from a file that count as received and handled.
HANDLED = (MessageStatus.MAPPED,)


def _undeclared_as_utf8(message: bytes, fallback: str) -> bytes:
    """A message without MSH-18 that is not valid UTF-8, re-encoded from ``fallback`` as UTF-8."""
    try:
        message.decode("utf-8")
        return message
    except UnicodeDecodeError:
        pass
    try:
        if read_header(message).charset:
            return message  # the mapping reads it by the charset it names
    except MappingError:
        return message  # no readable MSH: the pipeline says so
    return message.decode(fallback, errors="replace").encode("utf-8")


def receive_hl7_file(raw: bytes, file_message_id: int, channel: str, pipeline: Pipeline,
                     store: MessageStore, fallback_charset: str = DEFAULT_FALLBACK_CHARSET) -> str | None:
    """Send each message of the file through ``pipeline``; the failures as one reason, or ``None``."""
    codec, bom = detect_encoding(raw, fallback_charset)
    if codec.startswith(("utf-16", "utf-32")):
        # HL7 separators are single bytes; wide encodings are read as text and sent on as UTF-8.
        raw = raw[bom:].decode(codec, errors="replace").encode("utf-8")
    messages = [_undeclared_as_utf8(message, fallback_charset) for message in split_batch(raw)]
    if not messages:
        raise Refused("HL7 file holds no MSH segment")
    earlier = {m.peer: m for m in store.messages_from_file(channel, file_message_id)}
    failures = []
    for number, message in enumerate(messages, start=1):
        peer = f"file:{file_message_id}#{number}"
        previous = earlier.get(peer)
        if previous is not None and previous.status != MessageStatus.RECEIVED:
            if previous.status not in HANDLED:
                failures.append(f"message {number} (id {previous.id}): {previous.error}")
            continue
        if previous is not None:
            # Stored, then the engine died before mapping it: finish it, do not store it again.
            outcome = pipeline.process(StoredMessage(previous.id, read_header(message)), message, channel,
                                       raise_transient=True)
        else:
            outcome = pipeline.receive_hl7(message, channel, peer, raise_transient=True)
        if outcome.status != "accepted":
            control = outcome.header.control_id if outcome.header else "?"
            failures.append(f"message {number} (id {outcome.message_id}, control id {control}): {outcome.reason}")
    if failures:
        return f"{len(failures)} of {len(messages)} HL7 messages failed: " + "; ".join(failures)
    return None
