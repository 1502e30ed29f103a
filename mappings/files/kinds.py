"""Tells what a dropped file holds from its bytes (magic numbers, then the shape of its text),
never from its name alone: a PDF named ``.txt`` is still a PDF."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

from mappings.files.text_encoding import DEFAULT_FALLBACK_CHARSET, decode_text

#: How much of a file detection looks at.
SNIFF_BYTES = 8192


@dataclass(frozen=True)
class FileKind:
    """What a file is and which handler takes it.

    ``handler`` is ``document`` (kept whole as a Binary), ``hl7``, ``cda``, ``fhir``, ``csv``,
    ``gzip`` (unpacked, then detected again) or ``None`` (nothing can handle it).
    """

    name: str
    content_type: str
    handler: str | None


PDF = FileKind("pdf", "application/pdf", "document")
PNG = FileKind("png", "image/png", "document")
JPEG = FileKind("jpeg", "image/jpeg", "document")
GIF = FileKind("gif", "image/gif", "document")
TIFF = FileKind("tiff", "image/tiff", "document")
ZIP = FileKind("zip", "application/zip", "document")
GZIP = FileKind("gzip", "application/gzip", "gzip")
RTF = FileKind("rtf", "application/rtf", "document")
#: OLE2 compound files: Word 97-2003 documents (.doc), and Excel and Outlook files of that age.
OLE2 = FileKind("ole2", "application/x-ole-storage", "document")
HL7 = FileKind("hl7", "application/hl7-v2", "hl7")
CDA = FileKind("cda", "application/xml", "cda")
XML = FileKind("xml", "application/xml", None)
FHIR_JSON = FileKind("fhir-json", "application/fhir+json", "fhir")
FHIR_NDJSON = FileKind("fhir-ndjson", "application/fhir+ndjson", "fhir")
CSV = FileKind("csv", "text/csv", "csv")
UNKNOWN = FileKind("unknown", "application/octet-stream", None)

#: Magic numbers of binary formats, checked in order.
MAGIC: tuple[tuple[bytes, FileKind], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"GIF87a", GIF),
    (b"GIF89a", GIF),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"PK\x03\x04", ZIP),
    (b"\x1f\x8b", GZIP),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE2),
    # Before the text shapes: an RTF document opens with a brace, as JSON does.
    (b"{\\rtf", RTF),
)

_HL7_START = re.compile(r"^(MSH|FHS|BHS)\|")
_CDA_ROOT = re.compile(r"<(\w+:)?ClinicalDocument[\s>]")
_CSV_DELIMITERS = ",;\t|"
#: Control characters that never occur in text files (NUL and friends; not tab, CR, LF, FF).
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def _looks_like_ndjson(text: str) -> bool:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return len(lines) > 1 and all(line.startswith("{") for line in lines[:20])


def _looks_like_csv(text: str) -> bool:
    """A header of two or more plain column names, and rows split the same way."""
    lines = [line for line in text.splitlines() if line.strip()][:20]
    if not lines:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=_CSV_DELIMITERS)
    except csv.Error:
        return False
    header = next(csv.reader([lines[0]], dialect))
    names_ok = all(re.fullmatch(r"[\w .\-/()#]{1,64}", name.strip()) for name in header)
    return len(header) >= 2 and names_ok


def detect(raw: bytes, fallback_charset: str = DEFAULT_FALLBACK_CHARSET) -> FileKind:
    """The kind of file ``raw`` is; :data:`UNKNOWN` when it is none the engine handles."""
    head = raw[:SNIFF_BYTES]
    for magic, kind in MAGIC:
        if head.startswith(magic):
            return kind
    text = decode_text(head, fallback_charset).lstrip("\ufeff \t\r\n")
    if not text or _BINARY_CONTROL.search(text):
        return UNKNOWN
    if _HL7_START.match(text):
        return HL7
    if text.startswith("<"):
        return CDA if _CDA_ROOT.search(text) else XML
    if text.startswith("["):
        return FHIR_JSON
    if text.startswith("{"):
        return FHIR_NDJSON if _looks_like_ndjson(decode_text(raw, fallback_charset)) else FHIR_JSON
    if _looks_like_csv(text):
        return CSV
    return UNKNOWN
