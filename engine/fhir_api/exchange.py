"""The request and response of one FHIR interaction, as plain data, and how a write is answered
(status, ETag, Location, and the body ``Prefer: return`` asks for).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from engine.fhir_api.errors import FhirError, bad_request, operation_outcome
from engine.fhir_api.limits import FhirLimits
from engine.repository.resources import WriteOutcome


@dataclass
class FhirRequest:
    """One interaction: ``path`` is below the base (``Patient/1/_history/2``), headers lower-cased.

    ``limits`` bound the work it may cost; the entries of a Bundle inherit the Bundle's.
    """

    method: str
    path: str
    base: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    limits: FhirLimits = field(default_factory=FhirLimits)

    def prefer(self, name: str) -> str | None:
        """A token of the Prefer header (``return``, ``handling``)."""
        for part in self.headers.get("prefer", "").replace(";", ",").split(","):
            key, _, value = part.strip().partition("=")
            if key.strip() == name:
                return value.strip().strip('"')
        return None

    @property
    def criteria(self) -> str:
        return urlencode(self.query)


@dataclass
class FhirResponse:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def error_response(error: FhirError) -> FhirResponse:
    return FhirResponse(error.status, error.outcome())


def version_of(etag: str | None) -> int | None:
    """The version an ``If-Match`` names: ``W/"3"``, ``"3"`` or ``3``."""
    if etag is None:
        return None
    text = etag.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()):  # isdigit alone takes "²", which int() refuses
        raise bad_request("invalid-if-match", 'If-Match takes an ETag such as W/"3"')
    return min(int(text), 2 ** 63 - 1)  # no version is past 64 bits: such an ETag matches none, as any other


def version_headers(resource_type: str, resource_id: str, version_id: int, last_updated: str | None,
                    base: str) -> dict[str, str]:
    headers = {"ETag": f'W/"{version_id}"',
               "Location": f"{base}/{resource_type}/{resource_id}/_history/{version_id}"}
    if last_updated:
        headers["Last-Modified"] = format_datetime(datetime.fromisoformat(last_updated.replace("Z", "+00:00")),
                                                   usegmt=True)
    return headers


def write_response(outcome: WriteOutcome, request: FhirRequest, created_status: int = 201) -> FhirResponse:
    """Status, ETag, Location and the body ``Prefer: return`` asks for."""
    status = created_status if outcome.created else 200
    headers = version_headers(outcome.resource_type, outcome.id, outcome.version_id,
                              (outcome.resource.get("meta") or {}).get("lastUpdated"), request.base)
    preference = request.prefer("return") or "representation"
    if preference == "minimal":
        return FhirResponse(status, None, headers)
    if preference == "OperationOutcome":
        what = "created" if outcome.created else ("updated" if outcome.changed else "unchanged")
        return FhirResponse(status, operation_outcome("informational", what, f"{outcome.reference} {what}",
                                                      severity="information"), headers)
    return FhirResponse(status, outcome.resource, headers)
