"""A document file as FHIR: the bytes as a Binary, described by a DocumentReference whose
attachment points at it (content type, size, SHA-1 hash, title, creation date).

The Binary's id is the SHA-256 of its bytes, so the same bytes always make the same Binary
and a resent file writes nothing new; an attachment's ``url`` is not a ``reference`` the
repository rewrites, which a content-derived id makes unnecessary.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from mappings.errors import MappingError
from mappings.result import MappedResource

#: Identifier system of a document known only by its bytes (value: SHA-256, hex).
DOCUMENT_HASH_SYSTEM = "urn:carebridge:document-sha256"
LOINC = "http://loinc.org"
#: A LOINC code: digits, a dash and the check digit.
LOINC_CODE = re.compile(r"^\d{1,7}-\d$")
#: FHIR ``dateTime`` (a date, or a date and time with zone).
FHIR_DATETIME = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?$")
#: FHIR ``instant``: a full date, time and zone (DocumentReference.date).
FHIR_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass
class FileResources:
    """What one file becomes: resources kept under ids of their own (content-addressed Binaries,
    resources posted with an id), then mapped resources whose identities the repository resolves."""

    kind: str
    saved: list[dict[str, Any]] = field(default_factory=list)
    mapped: list[MappedResource] = field(default_factory=list)


def binary_id(raw: bytes) -> str:
    """The content-derived id of the Binary holding ``raw`` (64 hex digits, a valid FHIR id)."""
    return hashlib.sha256(raw).hexdigest()


def binary(raw: bytes, content_type: str) -> dict[str, Any]:
    return {"resourceType": "Binary", "id": binary_id(raw), "contentType": content_type,
            "data": base64.b64encode(raw).decode("ascii")}


def document_type(value: str | None, display: str | None = None) -> dict[str, Any] | None:
    """A LOINC code becomes a coding, anything else the concept's text."""
    if not value:
        return None
    if LOINC_CODE.match(value.strip()):
        coding = {"system": LOINC, "code": value.strip()}
        if display:
            coding["display"] = display
        return {"coding": [coding], **({"text": display} if display else {})}
    return {"text": value}


def checked_date(value: str | None, location: str) -> str | None:
    if value is None:
        return None
    if not FHIR_DATETIME.match(value):
        raise MappingError(location, "not a date (YYYY-MM-DD) or dateTime with a time zone")
    return value


def attachment(raw: bytes, content_type: str, title: str | None, creation: str | None) -> dict[str, Any]:
    found = {"contentType": content_type, "url": f"Binary/{binary_id(raw)}", "size": len(raw),
             "hash": base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii")}
    if title:
        found["title"] = title
    if creation:
        found["creation"] = creation
    return found


def document_reference(raw: bytes, content_type: str, *, subject: str, type_value: str | None = None,
                       type_display: str | None = None, title: str | None = None, date: str | None = None,
                       authors: list[str] | None = None,
                       identifiers: list[dict[str, str]] | None = None) -> MappedResource:
    """The DocumentReference of a document file; identified by ``identifiers`` or else by its SHA-256."""
    date = checked_date(date, "date")
    identifiers = identifiers or [{"system": DOCUMENT_HASH_SYSTEM, "value": binary_id(raw)}]
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "masterIdentifier": identifiers[0],
        "identifier": identifiers,
        "status": "current",
        "subject": {"reference": subject},
        "content": [{"attachment": attachment(raw, content_type, title, date)}],
    }
    concept = document_type(type_value, type_display)
    if concept:
        resource["type"] = concept
    if date and FHIR_INSTANT.match(date):
        resource["date"] = date
    if title:
        resource["description"] = title
    if authors:
        resource["author"] = [{"display": name} for name in authors]
    identity = [("identifier", f"{i['system']}|{i['value']}") for i in identifiers]
    return MappedResource(resource, identity=identity, replace=True)
