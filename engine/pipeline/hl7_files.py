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

from engine.db.models import MessageStatus
from engine.pipeline.hl7 import OutcomeStatus, Pipeline
from engine.store.message_store import MessageStore, StoredMessage
from mappings.files.guards import Refused
from mappings.files.text_encoding import DEFAULT_FALLBACK_CHARSET, detect_encoding
from mappings.v2.batch import split_batch
from mappings.v2.header import MessageHeader, read_header_or_reason

#: Statuses of a message from a file that count as received and handled.
HANDLED = (MessageStatus.MAPPED,)


def _as_sent_on(message: bytes, fallback: str) -> tuple[bytes, MessageHeader | None, str | None]:
    """The message as it goes through the pipeline, with its MSH read (or why it cannot be):
    one without MSH-18 that is not valid UTF-8 is re-encoded from ``fallback`` as UTF-8, and its
    header is read from the new bytes."""
    header, header_error = read_header_or_reason(message)
    try:
        message.decode("utf-8")
        return message, header, header_error
    except UnicodeDecodeError:
        pass
    if header is None or header.charset:
        # No readable MSH (the pipeline says so), or a charset the mapping reads it by.
        return message, header, header_error
    recoded = message.decode(fallback, errors="replace").encode("utf-8")
    return (recoded, *read_header_or_reason(recoded))


def receive_hl7_file(raw: bytes, file_message_id: int, channel: str, pipeline: Pipeline,
                     store: MessageStore, fallback_charset: str = DEFAULT_FALLBACK_CHARSET) -> str | None:
    """Send each message of the file through ``pipeline``; the failures as one reason, or ``None``."""
    codec, bom = detect_encoding(raw, fallback_charset)
    if codec.startswith(("utf-16", "utf-32")):
        # HL7 separators are single bytes; wide encodings are read as text and sent on as UTF-8.
        raw = raw[bom:].decode(codec, errors="replace").encode("utf-8")
    messages = [_as_sent_on(message, fallback_charset) for message in split_batch(raw)]
    if not messages:
        raise Refused("HL7 file holds no MSH segment")
    earlier = {m.peer: m for m in store.messages_from_file(channel, file_message_id)}
    failures = []
    for number, (message, header, header_error) in enumerate(messages, start=1):
        peer = f"file:{file_message_id}#{number}"
        previous = earlier.get(peer)
        if previous is not None and previous.status != MessageStatus.RECEIVED:
            if previous.status not in HANDLED:
                failures.append(f"message {number} (id {previous.id}): {previous.error}")
            continue
        if previous is not None:
            # Stored, then the engine died before mapping it: finish it, do not store it again.
            outcome = pipeline.process(StoredMessage(previous.id, header), message, channel, raise_transient=True)
        else:
            outcome = pipeline.receive_hl7(message, channel, peer, raise_transient=True, header=header,
                                           header_error=header_error)
        if outcome.status != OutcomeStatus.ACCEPTED:
            control = outcome.header.control_id if outcome.header else "?"
            failures.append(f"message {number} (id {outcome.message_id}, control id {control}): {outcome.reason}")
    if failures:
        return f"{len(failures)} of {len(messages)} HL7 messages failed: " + "; ".join(failures)
    return None
