"""Turns a FHIR resource into search index rows, so search parameters are queries on indexed columns.

Each search parameter is a name, a type and the element paths it reads (dotted, through
lists); adding one is a line in :data:`SEARCH_PARAMETERS`. Values are normalised once here
(strings case- and accent-folded, dates as instant ranges) so queries compare plainly.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from engine.db.models import SearchDate, SearchReference, SearchString, SearchToken

#: Longest string kept in the index; longer values are cut (prefix search still works).
MAX_INDEXED_STRING = 255


@dataclass(frozen=True)
class SearchParameter:
    """A search parameter: ``SearchParameter("family", "string", ("name.family",))``."""

    name: str
    type: str  # token | string | date | reference
    paths: tuple[str, ...]
    #: For references: the resource types this parameter points at (empty: any).
    targets: tuple[str, ...] = ()


def _p(name: str, type_: str, *paths: str) -> SearchParameter:
    return SearchParameter(name, type_, paths)


def _ref(name: str, *paths: str, to: tuple[str, ...] = ()) -> SearchParameter:
    """A reference parameter; ``to`` keeps only references to those types (``patient`` of ``subject``)."""
    return SearchParameter(name, "reference", paths, to)


_PATIENT = ("Patient",)
_PRACTITIONER = ("Practitioner",)
_EFFECTIVE = ("effectiveDateTime", "effectivePeriod", "effectiveInstant")


def _contacts() -> tuple[SearchParameter, ...]:
    return (
        _p("email", "token", "telecom:email"),
        _p("phone", "token", "telecom:phone"),
        _p("telecom", "token", "telecom"),
    )


def _addresses(path: str = "address") -> tuple[SearchParameter, ...]:
    return (
        _p("address", "string", path),
        _p("address-city", "string", f"{path}.city"),
        _p("address-postalcode", "string", f"{path}.postalCode"),
        _p("address-state", "string", f"{path}.state"),
        _p("address-country", "string", f"{path}.country"),
    )


def _subject() -> tuple[SearchParameter, ...]:
    """``subject`` (any type) and ``patient`` (the subject when it is a Patient)."""
    return _ref("patient", "subject", to=_PATIENT), _ref("subject", "subject")


def _person_names() -> tuple[SearchParameter, ...]:
    return (
        _p("name", "string", "name"),
        _p("family", "string", "name.family"),
        _p("given", "string", "name.given"),
    )


#: Parameters every resource type has, but those in :data:`WITHOUT_COMMON_PARAMETERS`.
COMMON_PARAMETERS: tuple[SearchParameter, ...] = (
    _p("identifier", "token", "identifier"),
)
#: Types without the elements the common parameters read (a Binary has no identifier).
WITHOUT_COMMON_PARAMETERS = frozenset({"Binary"})

#: Search parameters per resource type (R4 names and meanings), the ones users reach for.
SEARCH_PARAMETERS: dict[str, tuple[SearchParameter, ...]] = {
    "Patient": (
        *_person_names(),
        _p("birthdate", "date", "birthDate"),
        _p("gender", "token", "gender"),
        *_contacts(),
        *_addresses(),
        _p("active", "token", "active"),
        _ref("general-practitioner", "generalPractitioner"),
        _ref("organization", "managingOrganization"),
    ),
    "Practitioner": (
        *_person_names(),
        _p("gender", "token", "gender"),
        *_contacts(),
        *_addresses(),
        _p("active", "token", "active"),
    ),
    "PractitionerRole": (
        _ref("practitioner", "practitioner"),
        _ref("organization", "organization"),
        _ref("location", "location"),
        _p("role", "token", "code"),
        _p("specialty", "token", "specialty"),
        _p("active", "token", "active"),
        *_contacts(),
    ),
    "Organization": (
        _p("name", "string", "name", "alias"),
        _p("type", "token", "type"),
        _p("active", "token", "active"),
        *_addresses(),
        _ref("partof", "partOf"),
    ),
    "Location": (
        _p("name", "string", "name", "alias"),
        _p("type", "token", "type"),
        _p("status", "token", "status"),
        *_addresses(),
        _ref("organization", "managingOrganization"),
        _ref("partof", "partOf"),
    ),
    "Encounter": (
        *_subject(),
        _p("date", "date", "period"),
        _p("status", "token", "status"),
        _p("class", "token", "class"),
        _p("type", "token", "type"),
        _ref("practitioner", "participant.individual", to=_PRACTITIONER),
        _ref("participant", "participant.individual"),
        _ref("location", "location.location"),
        _ref("service-provider", "serviceProvider"),
        _ref("appointment", "appointment"),
    ),
    "Appointment": (
        _p("date", "date", "start"),
        _ref("patient", "participant.actor", to=_PATIENT),
        _ref("practitioner", "participant.actor", to=_PRACTITIONER),
        _ref("location", "participant.actor", to=("Location",)),
        _ref("actor", "participant.actor"),
        _p("status", "token", "status"),
        _p("appointment-type", "token", "appointmentType"),
        _p("service-type", "token", "serviceType"),
        _p("specialty", "token", "specialty"),
    ),
    "DocumentReference": (
        _p("identifier", "token", "masterIdentifier"),
        *_subject(),
        _p("type", "token", "type"),
        _p("category", "token", "category"),
        _p("date", "date", "date"),
        _p("status", "token", "status"),
        _ref("author", "author"),
        _ref("custodian", "custodian"),
        _ref("relatesto", "relatesTo.target"),
        _p("relation", "token", "relatesTo.code"),
        _ref("encounter", "context.encounter"),
        _p("period", "date", "context.period"),
        _p("contenttype", "token", "content.attachment.contentType"),
        _p("description", "string", "description"),
    ),
    "Invoice": (
        *_subject(),
        _p("status", "token", "status"),
        _p("date", "date", "date"),
        _p("type", "token", "type"),
        _ref("participant", "participant.actor"),
        _ref("issuer", "issuer"),
        _ref("recipient", "recipient"),
        _ref("account", "account"),
    ),
    "ChargeItem": (
        *_subject(),
        _p("code", "token", "code"),
        _p("status", "token", "status"),
        _p("occurrence", "date", "occurrenceDateTime", "occurrencePeriod"),
        _p("entered-date", "date", "enteredDate"),
        _ref("performer-actor", "performer.actor"),
        _ref("enterer", "enterer"),
        _ref("account", "account"),
        _ref("context", "context"),
    ),
    "Observation": (
        *_subject(),
        _p("code", "token", "code"),
        _p("date", "date", *_EFFECTIVE),
        _p("status", "token", "status"),
        _p("category", "token", "category"),
        _ref("encounter", "encounter"),
        _ref("performer", "performer"),
        _p("value-concept", "token", "valueCodeableConcept"),
    ),
    "Binary": (),
}


def parameters_for(resource_type: str) -> tuple[SearchParameter, ...]:
    """Every indexed parameter of a type; a name may appear twice when it reads two kinds of element."""
    common = () if resource_type in WITHOUT_COMMON_PARAMETERS else COMMON_PARAMETERS
    return common + SEARCH_PARAMETERS.get(resource_type, ())


def parameter_named(resource_type: str, name: str) -> SearchParameter | None:
    return next((p for p in parameters_for(resource_type) if p.name == name), None)


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


#: Hour, minute, second and microsecond of a day's last instant.
_LAST_OF_DAY = (23, 59, 59, 999999)

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?$")


def date_range(value: str) -> tuple[datetime, datetime] | None:
    """The instants a FHIR date, dateTime or instant covers: ``2024-05`` is all of May 2024 (UTC).

    ``None`` when ``value`` is not one, in form or on the calendar (``2024-13``, ``2024-02-30``, ``T25:00``).
    """
    match = _DATE.match(value.strip())
    if not match:
        return None
    try:
        low, high = _local_span(*match.groups())
    except ValueError:
        return None
    return _in_utc(low), _in_utc(high)


def _local_span(year, month, day, hour, minute, second, fraction, offset) -> tuple[datetime, datetime]:
    """First and last microsecond of the value in its own zone; ValueError when the calendar lacks it."""
    tz = timezone.utc
    if offset and offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    y = int(year)
    if month is None:
        return datetime(y, 1, 1, tzinfo=tz), datetime(y, 12, 31, *_LAST_OF_DAY, tzinfo=tz)
    m = int(month)
    if day is None:
        last_day = calendar.monthrange(y, m)[1] if 1 <= m <= 12 else 0  # 0: datetime refuses the month
        return datetime(y, m, 1, tzinfo=tz), datetime(y, m, last_day, *_LAST_OF_DAY, tzinfo=tz)
    if hour is None:
        low = datetime(y, m, int(day), tzinfo=tz)
        return low, low.replace(hour=23, minute=59, second=59, microsecond=999999)
    low = datetime(y, m, int(day), int(hour), int(minute), int(second or 0),
                   int((fraction or "0")[:6].ljust(6, "0")), tzinfo=tz)
    width = timedelta(seconds=1) if second is not None else timedelta(minutes=1)
    try:
        return low, low + width - timedelta(microseconds=1)
    except OverflowError:  # the last minute of year 9999
        return low, datetime.max.replace(tzinfo=tz)


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # before year 1 (0001-01-01T00:00+05:00) or after year 9999 in UTC
        edge = datetime.min if moment.utcoffset() > timedelta(0) else datetime.max
        return edge.replace(tzinfo=timezone.utc)


def _dates(value: Any) -> Iterable[tuple[datetime | None, datetime | None]]:
    if isinstance(value, str):
        span = date_range(value)
        if span:
            yield span
    elif isinstance(value, dict) and ("start" in value or "end" in value):  # Period
        start = date_range(value["start"]) if value.get("start") else None
        end = date_range(value["end"]) if value.get("end") else None
        yield (start[0] if start else None), (end[1] if end else None)


def split_reference(reference: str) -> tuple[str | None, str]:
    """``(type, id)`` of ``Type/id``, ``Type/id/_history/2``, an absolute URL, or a bare ``id``."""
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 2 and "_history" in parts:
        parts = parts[:parts.index("_history")]
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return None, parts[-1]


def _references(value: Any) -> Iterable[tuple[str | None, str]]:
    reference = value.get("reference") if isinstance(value, dict) else None
    if isinstance(reference, str) and reference and not reference.startswith("#"):
        yield split_reference(reference)


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
                    # ``exact`` keeps the value as sent, for the :exact modifier.
                    rows += [SearchString(**owner, param=parameter.name, value=normalise_string(s),
                                          exact=s[:MAX_INDEXED_STRING])
                             for s in _strings(value) if s.strip()]
                elif parameter.type == "date":
                    rows += [SearchDate(**owner, param=parameter.name, low=lo, high=hi) for lo, hi in _dates(value)]
                elif parameter.type == "reference":
                    rows += [SearchReference(**owner, param=parameter.name, target_type=t, target_id=i)
                             for t, i in _references(value) if not parameter.targets or t in parameter.targets]
    return rows


INDEX_TABLES = (SearchToken, SearchString, SearchDate, SearchReference)
#: The columns written for each index table (the surrogate key is assigned by the database).
_INSERT_COLUMNS = {table: [c.key for c in table.__table__.columns if not c.primary_key] for table in INDEX_TABLES}


def reindex(session: Session, resource_type: str, resource_id: str, resource: dict[str, Any] | None,
            *, fresh: bool = False) -> None:
    """Replace a resource's index rows (``None``: the resource is deleted, remove them).

    ``fresh``: the resource has no index rows yet (new, or deleted before), so there is
    nothing to remove; this saves four DELETEs on every create.
    """
    if not fresh:
        for table in INDEX_TABLES:
            session.execute(delete(table).where(table.resource_type == resource_type,
                                                table.resource_id == resource_id))
    if resource is not None:
        # One executemany per table: far cheaper than the ORM's unit of work for dozens of rows.
        by_table: dict[type, list[dict[str, Any]]] = {}
        for row in index_rows(resource_type, resource_id, resource):
            values = {column: getattr(row, column) for column in _INSERT_COLUMNS[type(row)]}
            by_table.setdefault(type(row), []).append(values)
        for table, values in by_table.items():
            session.execute(insert(table), values)
