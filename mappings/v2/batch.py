"""Splits what a sender pushed in one go (an FHS/BHS batch file, or messages simply
concatenated) into single messages, each then stored and mapped on its own."""

from __future__ import annotations

import re

#: Segment breaks as senders send them (CR, LF, CRLF).
_BREAK = re.compile(rb"\r\n|\n|\r")
#: Batch envelope segments, not part of any message.
_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")


def split_batch(raw: bytes) -> list[bytes]:
    """Each message in ``raw`` as its own bytes, segments joined by CR; envelope segments
    (FHS, BHS, BTS, FTS) dropped. Text before the first MSH is not a message and is dropped."""
    messages: list[list[bytes]] = []
    for segment in _BREAK.split(raw.lstrip(b"\xef\xbb\xbf")):
        stripped = segment.strip(b"\x00\x0b\x1c ")
        if not stripped:
            continue
        name = stripped[:3]
        if name in _ENVELOPE and (len(stripped) == 3 or not stripped[3:4].isalnum()):
            continue
        if name == b"MSH":
            messages.append([stripped])
        elif messages:
            messages[-1].append(segment)
    return [b"\r".join(m) + b"\r" for m in messages]
