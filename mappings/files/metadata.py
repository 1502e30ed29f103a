"""What a dropped document is about, from its sidecar (``name.pdf.json``) or, failing that, from
the channel's file-name pattern (``{mrn}_{type}_{yyyymmdd}.pdf``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from mappings.files.guards import Refused

#: Pattern placeholders and what they match; ``{mrn}`` and ``{patient}`` name the patient.
PLACEHOLDERS = {
    "mrn": r"[^_/\\]+?",
    "patient": r"[^_/\\]+?",
    "type": r"[^_/\\]+?",
    "title": r"[^/\\]+?",
    "yyyymmdd": r"\d{8}",
    "yyyy-mm-dd": r"\d{4}-\d{2}-\d{2}",
    "ext": r"[A-Za-z0-9]+",
    "any": r"[^/\\]*?",
}
_PLACEHOLDER = re.compile(r"\{([a-z-]+)\}")


@dataclass(frozen=True)
class DocumentMetadata:
    """The patient and description of a binary document."""

    #: ``value`` or ``system|value``, matched like the FHIR ``identifier`` token search.
    patient_identifier: str
    #: A LOINC code or free text; ``None`` when nothing said.
    type: str | None = None
    title: str | None = None
    #: A FHIR date or dateTime.
    date: str | None = None


def read_sidecar(raw: bytes) -> DocumentMetadata:
    """Metadata from a sidecar's JSON; :class:`Refused` when it is not JSON or lacks ``patientIdentifier``."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise Refused("sidecar is not UTF-8 JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("patientIdentifier"), str) \
            or not data["patientIdentifier"].strip():
        raise Refused("sidecar has no patientIdentifier (a string: value or system|value)")
    kind = data.get("type")
    if isinstance(kind, dict):  # {"code": ..., "text": ...} is accepted as well as a plain string
        kind = kind.get("code") or kind.get("text")
    return DocumentMetadata(data["patientIdentifier"].strip(), kind if isinstance(kind, str) else None,
                            data.get("title") if isinstance(data.get("title"), str) else None,
                            data.get("date") if isinstance(data.get("date"), str) else None)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A file-name pattern as a regular expression; unknown placeholders are a configuration error."""
    parts, end = [], 0
    for match in _PLACEHOLDER.finditer(pattern):
        name = match.group(1)
        if name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{name}}} in file-name pattern; known: {sorted(PLACEHOLDERS)}")
        parts.append(re.escape(pattern[end:match.start()]))
        parts.append(f"(?P<{name.replace('-', '_')}>{PLACEHOLDERS[name]})")
        end = match.end()
    parts.append(re.escape(pattern[end:]))
    return re.compile("".join(parts), re.IGNORECASE)


def from_file_name(name: str, pattern: re.Pattern[str], identifier_system: str | None = None) -> DocumentMetadata | None:
    """Metadata from a file name matching the channel's pattern, or ``None`` if it does not match."""
    match = pattern.fullmatch(name)
    if not match:
        return None
    found = match.groupdict()
    value = found.get("mrn") or found.get("patient")
    if not value:
        return None
    date = None
    if found.get("yyyymmdd"):
        digits = found["yyyymmdd"]
        date = f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    elif found.get("yyyy_mm_dd"):
        date = found["yyyy_mm_dd"]
    identifier = f"{identifier_system}|{value}" if identifier_system else value
    return DocumentMetadata(identifier, found.get("type"), found.get("title"), date)
