"""Turns a FHIR resource into search index rows, so search parameters are queries on indexed columns.

Each search parameter is a name, a type and the element paths it reads (dotted, through
lists); adding one is a line in :data:`SEARCH_PARAMETERS`. Values are normalised once here
(strings case- and accent-folded, dates as instant ranges) so queries compare plainly.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

from sqlalchemy import delete
from sqlalchemy.orm import Session

from engine.models import SearchDate, SearchReference, SearchString, SearchToken

#: Longest string kept in the index; longer values are cut (prefix search still works).
MAX_INDEXED_STRING = 255


@dataclass(frozen=True)
class SearchParameter:
    """A search parameter: ``SearchParameter("family", "string", ("name.family",))``."""

    name: str
    type: str  # token | string | date | reference
    paths: tuple[str, ...]


def _p(name: str, type_: str, *paths: str) -> SearchParameter:
    return SearchParameter(name, type_, paths)


#: Parameters every resource type has.
COMMON_PARAMETERS: tuple[SearchParameter, ...] = (
    _p("identifier", "token", "identifier"),
)

#: Search parameters per resource type (R4 names and meanings).
SEARCH_PARAMETERS: dict[str, tuple[SearchParameter, ...]] = {
    "Patient": (
        _p("name", "string", "name"),
        _p("family", "string", "name.family"),
        _p("given", "string", "name.given"),
        _p("birthdate", "date", "birthDate"),
        _p("gender", "token", "gender"),
        _p("email", "token", "telecom:email"),
        _p("phone", "token", "telecom:phone"),
        _p("active", "token", "active"),
    ),
}


def parameters_for(resource_type: str) -> tuple[SearchParameter, ...]:
    return COMMON_PARAMETERS + SEARCH_PARAMETERS.get(resource_type, ())


def normalise_string(value: str) -> str:
    """Case- and accent-insensitive form used for string search."""
    decomposed = unicodedata.normalize("NFKD", value)
    folded = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return re.sub(r"\s+", " ", folded).strip()[:MAX_INDEXED_STRING]


def values_at(resource: Any, path: str) -> Iterator[Any]:
    """Values at a dotted path, flattening lists; ``telecom:email`` keeps ContactPoints of that system."""
    element, _, system_filter = path.partition(":")
    current: list[Any] = [resource]
    for step in element.split("."):
        following = []
        for node in current:
            value = node.get(step) if isinstance(node, dict) else None
            if isinstance(value, list):
                following.extend(value)
            elif value is not None:
                following.append(value)
        current = following
    for value in current:
        if system_filter and not (isinstance(value, dict) and value.get("system") == system_filter):
            continue
        yield value


def _tokens(value: Any) -> Iterable[tuple[str | None, str | None]]:
    if isinstance(value, bool):
        yield None, "true" if value else "false"
    elif isinstance(value, (str, int)):
        yield None, str(value)
    elif isinstance(value, dict):
        if "coding" in value:  # CodeableConcept
            for coding in value.get("coding") or []:
                yield coding.get("system"), coding.get("code")
        elif "code" in value:  # Coding
            yield value.get("system"), value.get("code")
        elif "value" in value:  # Identifier, ContactPoint
            yield value.get("system"), str(value["value"])


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key in ("text", "family", "given", "prefix", "suffix", "line", "city", "district", "state",
                    "postalCode", "country", "value", "display"):
            part = value.get(key)
            for item in part if isinstance(part, list) else [part]:
                if isinstance(item, str):
                    yield item


_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?$")


def date_range(value: str) -> tuple[datetime, datetime] | None:
    """The instants a FHIR date, dateTime or instant covers: ``2024-05`` is all of May 2024 (UTC)."""
    match = _DATE.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    tz = timezone.utc
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    if month is None:
        low = datetime(int(year), 1, 1, tzinfo=tz)
        high = datetime(int(year) + 1, 1, 1, tzinfo=tz)
    elif day is None:
        low = datetime(int(year), int(month), 1, tzinfo=tz)
        high = datetime(int(year) + (int(month) == 12), int(month) % 12 + 1, 1, tzinfo=tz)
    elif hour is None:
        low = datetime(int(year), int(month), int(day), tzinfo=tz)
        high = low + timedelta(days=1)
    else:
        low = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                       int((fraction or "0")[:6].ljust(6, "0")), tzinfo=tz)
        high = low + (timedelta(seconds=1) if second is not None else timedelta(minutes=1))
    return low.astimezone(timezone.utc), (high - timedelta(microseconds=1)).astimezone(timezone.utc)


def _dates(value: Any) -> Iterable[tuple[datetime | None, datetime | None]]:
    if isinstance(value, str):
        span = date_range(value)
        if span:
            yield span
    elif isinstance(value, dict) and ("start" in value or "end" in value):  # Period
        start = date_range(value["start"]) if value.get("start") else None
        end = date_range(value["end"]) if value.get("end") else None
        yield (start[0] if start else None), (end[1] if end else None)


def _references(value: Any) -> Iterable[tuple[str | None, str]]:
    reference = value.get("reference") if isinstance(value, dict) else None
    if isinstance(reference, str) and reference:
        parts = reference.rstrip("/").split("/")
        if len(parts) >= 2 and "_history" in parts:
            cut = parts.index("_history")
            parts = parts[:cut]
        if len(parts) >= 2:
            yield parts[-2], parts[-1]
        else:
            yield None, parts[-1]


def index_rows(resource_type: str, resource_id: str, resource: dict[str, Any]) -> list[Any]:
    """The index rows for one resource."""
    rows: list[Any] = []
    owner = {"resource_type": resource_type, "resource_id": resource_id}
    for parameter in parameters_for(resource_type):
        for path in parameter.paths:
            for value in values_at(resource, path):
                if parameter.type == "token":
                    rows += [SearchToken(**owner, param=parameter.name, system=s, code=c) for s, c in _tokens(value)]
                elif parameter.type == "string":
                    rows += [SearchString(**owner, param=parameter.name, value=normalise_string(s))
                             for s in _strings(value) if s.strip()]
                elif parameter.type == "date":
                    rows += [SearchDate(**owner, param=parameter.name, low=lo, high=hi) for lo, hi in _dates(value)]
                elif parameter.type == "reference":
                    rows += [SearchReference(**owner, param=parameter.name, target_type=t, target_id=i)
                             for t, i in _references(value)]
    return rows


INDEX_TABLES = (SearchToken, SearchString, SearchDate, SearchReference)


def reindex(session: Session, resource_type: str, resource_id: str, resource: dict[str, Any] | None) -> None:
    """Replace a resource's index rows (``None``: the resource is deleted, remove them)."""
    for table in INDEX_TABLES:
        session.execute(delete(table).where(table.resource_type == resource_type, table.resource_id == resource_id))
    if resource is not None:
        session.add_all(index_rows(resource_type, resource_id, resource))
