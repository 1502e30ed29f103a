"""MLLP framing: takes HL7 v2 messages out of the bytes a connection sent, apart from the listener.

It uses python-hl7's MLLP block characters. Reading is done here rather than with
python-hl7's ``MLLPStreamReader.readblock``: that reader discards a valid frame that follows
stray bytes and the start of an oversized message, and the engine needs both (the first to
keep serving, the second to echo MSH-10 in the AR).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from hl7.mllp.streams import CARRIAGE_RETURN, END_BLOCK, START_BLOCK

log = logging.getLogger(__name__)

#: How much of a refused or broken frame is kept in the message store for an operator to see.
KEPT_PREFIX_BYTES = 64 * 1024


class FrameProblem:
    """Why a frame is refused; the HL7 receiver answers each kind with its own error code."""

    #: Bytes that arrived outside a start and end block.
    OUTSIDE_FRAME = "outside_frame"
    #: A message over the listener's size limit.
    OVERSIZED = "oversized"
    #: The connection closed before the message's end block.
    CUT_OFF = "cut_off"
    #: The connection fell silent before the message's end block.
    IDLE = "idle"


@dataclass(frozen=True)
class Frame:
    """What arrived: a complete message, or something the listener must refuse."""

    data: bytes
    #: ``None`` for a complete frame; otherwise why it is refused, as an operator reads it.
    problem: str | None = None
    #: The :class:`FrameProblem` of a refused frame.
    kind: str | None = None


def _refused(data: bytes, kind: str, problem: str) -> Frame:
    return Frame(data[:KEPT_PREFIX_BYTES], problem, kind)


def next_frame(buffer: bytearray, max_message_bytes: int) -> tuple[Frame | None, bool]:
    """Take the next frame out of ``buffer``; ``(None, False)`` when more bytes are needed. The
    second value says the connection must close after the answer (its stream cannot be trusted)."""
    too_large = f"message larger than the limit of {max_message_bytes} bytes"
    end = buffer.find(END_BLOCK + CARRIAGE_RETURN)
    if end < 0:
        start = buffer.rfind(START_BLOCK)
        if start > 0:
            # A frame started again before the last one ended: what came before is discarded, as it would
            # be once an end block came, so a stream of restarts is held to one message's limit.
            log.warning("discarded %d bytes before an MLLP frame", start)
            del buffer[:start]
            start = 0
        if len(buffer) - max(start, 0) > max_message_bytes:
            kept = bytes(buffer[max(start + 1, 0):])
            buffer.clear()
            return _refused(kept, FrameProblem.OVERSIZED, too_large), True
        return None, False
    block = bytes(buffer[:end])
    del buffer[:end + 2]
    start = block.rfind(START_BLOCK)
    if start < 0:
        log.warning("discarded %d bytes outside an MLLP frame", len(block))
        return _refused(block, FrameProblem.OUTSIDE_FRAME, "bytes outside an MLLP frame"), False
    if start > 0:
        log.warning("discarded %d bytes before an MLLP frame", start)
    data = block[start + 1:]
    if len(data) > max_message_bytes:
        return _refused(data, FrameProblem.OVERSIZED, too_large), True
    return Frame(data), False


def unfinished(buffer: bytearray, kind: str, problem: str) -> Frame | None:
    """What a connection left in ``buffer`` when it ended mid-message, as a refused frame; ``None``
    when it left nothing but whitespace."""
    if not buffer.strip(b"\r\n \t\x00"):
        return None
    return _refused(bytes(buffer[:KEPT_PREFIX_BYTES]).lstrip(START_BLOCK), kind, problem)
