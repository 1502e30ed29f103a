"""``GET /fhir/AuditEvent``: the audit trail searched as FHIR (``agent``, ``entity``, ``date``,
``action``, ``outcome``), newest first, paged by a cursor; ``GET /fhir/AuditEvent/<id>`` reads one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

from engine.access.audit import AuditLog, as_audit_event
from engine.db.models import is_record_id
from engine.fhir_api.errors import FhirError, bad_request
from engine.fhir_api.exchange import FhirRequest, FhirResponse

#: Largest page.
MAX_COUNT = 200
PARAMETERS = {"agent", "entity", "date", "action", "outcome", "_count", "_cursor", "_summary", "_total"}


def _instant(value: str) -> tuple[datetime, timedelta]:
    """The start of a FHIR date or dateTime, and how long it lasts (a day, a second ...)."""
    try:
        if len(value) == 4:
            return datetime(int(value), 1, 1, tzinfo=timezone.utc), timedelta(days=366)
        if len(value) == 7:
            return datetime(int(value[:4]), int(value[5:7]), 1, tzinfo=timezone.utc), timedelta(days=31)
        if len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=timezone.utc), timedelta(days=1)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request("invalid-date", "date must be a FHIR date or dateTime, with an optional prefix") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)), timedelta(seconds=1)


def _dates(values: list[str]) -> tuple[datetime | None, datetime | None]:
    since = until = None
    for value in values:
        prefix = value[:2] if value[:2] in ("eq", "ge", "gt", "le", "lt") else "eq"
        start, length = _instant(value[2:] if value[:2] == prefix else value)
        if prefix in ("ge", "eq"):
            since = max(since or start, start)
        if prefix == "gt":
            since = max(since or start + length, start + length)
        if prefix in ("le", "eq"):
            until = min(until or start + length, start + length)
        if prefix == "lt":
            until = min(until or start, start)
    return since, until


def search_audit(log: AuditLog, request: FhirRequest) -> FhirResponse:
    parts = [p for p in request.path.split("/") if p]
    if request.method != "GET" and parts[1:] != ["_search"]:
        raise FhirError(405, "not-supported", "read-only", "the audit trail is read-only")
    if len(parts) == 2 and parts[1] != "_search":
        found = log.get(int(parts[1])) if is_record_id(parts[1]) else None
        if found is None:
            raise FhirError(404, "not-found", "unknown-resource", f"AuditEvent/{parts[1]} is not known")
        return FhirResponse(200, as_audit_event(found))
    query: dict[str, list[str]] = {}
    for key, value in request.query:
        if key not in PARAMETERS:
            raise bad_request("unknown-parameter", f"AuditEvent has no search parameter {key!r}; "
                                                   f"use {', '.join(sorted(PARAMETERS))}")
        query.setdefault(key, []).append(value)
    one = {k: v[-1] for k, v in query.items()}
    entity_type = entity_id = None
    if one.get("entity"):
        entity_type, _, entity_id = one["entity"].partition("/")
    agent = one.get("agent", "").rpartition("|")[2] or None
    try:
        if not (one.get("_count", "1").isascii() and one.get("_count", "1").isdigit()):
            raise ValueError(one["_count"])
        count = max(1, min(int(one.get("_count", 50)), MAX_COUNT))
        if one.get("_cursor") and not is_record_id(one["_cursor"]):
            raise ValueError(one["_cursor"])
        cursor = int(one["_cursor"]) if one.get("_cursor") else None
    except ValueError:
        raise bad_request("invalid-count", "_count and _cursor are whole numbers") from None
    since, until = _dates(query.get("date", []))
    criteria = dict(agent=agent, entity_type=entity_type, entity_id=entity_id or None, action=one.get("action"),
                    outcome=one.get("outcome"), since=since, until=until)
    if one.get("_summary") == "count":
        return FhirResponse(200, {"resourceType": "Bundle", "type": "searchset", "total": log.count(**criteria)})
    rows = log.find(before_id=cursor, limit=count, **criteria)
    base = f"{request.base}/AuditEvent"
    kept = [(k, v) for k, v in request.query if k != "_cursor"]
    links = [{"relation": "self", "url": f"{base}?{urlencode(request.query)}"}]
    if len(rows) == count:
        links.append({"relation": "next", "url": f"{base}?{urlencode(kept + [('_cursor', str(rows[-1].id))])}"})
    return FhirResponse(200, {"resourceType": "Bundle", "type": "searchset", "link": links,
                              "entry": [{"fullUrl": f"{base}/{r.id}", "resource": as_audit_event(r),
                                         "search": {"mode": "match"}} for r in rows]})
