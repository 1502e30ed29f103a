"""Refuses files that would hurt the engine or that arrived broken: compression bombs and
documents cut short. Each check returns the reason (no file content in it) or ``None``."""

from __future__ import annotations

import io
import zipfile
import zlib

from foundation.errors import CarebridgeError
from mappings.files.kinds import GIF, JPEG, PDF, PNG, RTF, FileKind

#: Most a compressed file may expand to, relative to its own size, before it counts as a bomb.
DEFAULT_MAX_EXPANSION_RATIO = 100
#: Chunk in which gzip is expanded, so a bomb is stopped before it fills memory.
_INFLATE_CHUNK = 1024 * 1024
#: How far from the end a PDF's ``%%EOF`` marker may sit (writers append whitespace or junk).
PDF_EOF_WINDOW = 1024


class Refused(CarebridgeError):
    """A file the engine will not process; the message is the reason written beside it."""


def _limit(compressed_size: int, max_bytes: int, max_ratio: float) -> int:
    return int(min(max_bytes, max(compressed_size, 1) * max_ratio))


def inflate_gzip(raw: bytes, max_bytes: int, max_ratio: float = DEFAULT_MAX_EXPANSION_RATIO) -> bytes:
    """The content of a gzip file; :class:`Refused` if it would expand past the limits or is broken."""
    limit = _limit(len(raw), max_bytes, max_ratio)
    inflater = zlib.decompressobj(wbits=31)
    out = io.BytesIO()
    data = raw
    try:
        while data:
            out.write(inflater.decompress(data, _INFLATE_CHUNK))
            if out.tell() > limit:
                raise Refused(f"gzip expands past {limit} bytes (ratio or size limit): a compression bomb")
            data = inflater.unconsumed_tail
        if not inflater.eof:
            raise Refused("gzip stream is truncated")
    except zlib.error as exc:
        raise Refused(f"gzip stream is broken ({exc})") from None
    return out.getvalue()


def check_zip(raw: bytes, max_bytes: int, max_ratio: float = DEFAULT_MAX_EXPANSION_RATIO) -> None:
    """:class:`Refused` if a zip's declared expansion passes the limits or its directory is unreadable."""
    limit = _limit(len(raw), max_bytes, max_ratio)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
            nested = [info for info in archive.infolist() if info.filename.lower().endswith((".zip", ".gz"))]
    except (zipfile.BadZipFile, ValueError) as exc:
        raise Refused(f"zip archive is broken ({exc})") from None
    if expanded > limit:
        raise Refused(f"zip expands to {expanded} bytes, past {limit} (ratio or size limit): a compression bomb")
    if nested:
        raise Refused("zip holds other archives; nested archives are refused")


def check_complete(raw: bytes, kind: FileKind) -> None:
    """:class:`Refused` if a PDF or image lacks the end marker its format requires (cut short in transfer)."""
    tail = raw[-PDF_EOF_WINDOW:]
    if kind == PDF and b"%%EOF" not in tail:
        raise Refused("PDF has no %%EOF marker at its end: the file is truncated")
    if kind == PNG and not raw.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
        raise Refused("PNG has no IEND chunk at its end: the file is truncated")
    if kind == JPEG and not raw.rstrip(b"\x00\r\n").endswith(b"\xff\xd9"):
        raise Refused("JPEG has no end-of-image marker: the file is truncated")
    if kind == GIF and not raw.rstrip(b"\x00").endswith(b";"):
        raise Refused("GIF has no trailer: the file is truncated")
    if kind == RTF and not raw.rstrip(b"\x00 \t\r\n").endswith(b"}"):
        raise Refused("RTF does not end with the brace that closes it: the file is truncated")
