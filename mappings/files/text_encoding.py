"""Decodes text files whose senders rarely say how they are encoded: a byte-order mark first,
then strict UTF-8, then the channel's configured fallback."""

from __future__ import annotations

import codecs

#: Byte-order marks and the codecs they announce, longest first (UTF-32's LE mark starts with UTF-16's).
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: What a channel falls back to when a file is not UTF-8: Windows' Western code page, the
#: usual export encoding of practice systems (every byte decodes, so it never fails).
DEFAULT_FALLBACK_CHARSET = "cp1252"


def detect_encoding(raw: bytes, fallback: str = DEFAULT_FALLBACK_CHARSET) -> tuple[str, int]:
    """The codec of ``raw`` and the length of its byte-order mark (0 without one)."""
    for bom, codec in BOMS:
        if raw.startswith(bom):
            return codec, len(bom)
    try:
        raw.decode("utf-8")
        return "utf-8", 0
    except UnicodeDecodeError:
        return fallback, 0


def decode_text(raw: bytes, fallback: str = DEFAULT_FALLBACK_CHARSET) -> str:
    """``raw`` as text; undecodable bytes of the fallback become U+FFFD rather than failing."""
    codec, skip = detect_encoding(raw, fallback)
    return raw[skip:].decode(codec, errors="replace")
