"""History interactions: every version of an instance, or of a type, as a ``history`` Bundle."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import ResourceVersion, utcnow
from engine.fhir_api.errors import bad_request
from engine.fhir_api.search_params import DEFAULT_COUNT, MAX_COUNT
from engine.repository.resources import FhirRepository, format_instant
from foundation import decimal_json

#: What each stored method was, as the request and response of a history entry.
_REQUESTS = {"create": ("POST", "201 Created"), "update": ("PUT", "200 OK"), "delete": ("DELETE", "204 No Content")}


def instance_history(session: Session, repository: FhirRepository, resource_type: str,
                     resource_id: str) -> tuple[list[ResourceVersion], None]:
    return repository.history(session, resource_type, resource_id), None


def _instant(params: dict[str, str], name: str) -> datetime | None:
    if name not in params:
        return None
    try:
        moment = datetime.fromisoformat(params[name].replace("Z", "+00:00"))
    except ValueError:
        raise bad_request("invalid-search-value", f"{name} takes an instant") from None
    if moment.tzinfo is None:
        raise bad_request("invalid-search-value", f"{name} needs a time zone")
    return moment


def type_history(session: Session, resource_type: str,
                 query: list[tuple[str, str]]) -> tuple[list[ResourceVersion], list[tuple[str, str]] | None]:
    """Newest first; ``_since`` and ``_count``; pages below a snapshot instant so inserts do not shift them."""
    params = dict(query)
    count = min(_whole(params, "_count", DEFAULT_COUNT), MAX_COUNT)
    offset = min(_whole(params, "_offset", 0), 2 ** 63 - 1)  # SQLite and PostgreSQL offsets are 64-bit
    at = _instant(params, "_at") or utcnow()
    since = _instant(params, "_since")
    version = ResourceVersion
    statement = select(version).where(version.resource_type == resource_type, version.last_updated <= at)
    if since:
        statement = statement.where(version.last_updated >= since)
    statement = statement.order_by(version.last_updated.desc(), version.id, version.version_id.desc())
    rows = list(session.scalars(statement.offset(offset).limit(count + 1)))
    if len(rows) <= count:
        return rows, None
    following = [(k, v) for k, v in query if k not in ("_offset", "_at")]
    return rows[:count], following + [("_at", format_instant(at)), ("_offset", str(offset + count))]


def _entry(base: str, version: ResourceVersion) -> dict[str, Any]:
    method, status = _REQUESTS.get(version.method, ("PUT", "200 OK"))
    entry: dict[str, Any] = {"fullUrl": f"{base}/{version.resource_type}/{version.id}"}
    if version.content is not None:
        entry["resource"] = decimal_json.loads(version.content)
    entry["request"] = {"method": method,
                        "url": version.resource_type if method == "POST" else f"{version.resource_type}/{version.id}"}
    entry["response"] = {"status": status, "etag": f'W/"{version.version_id}"',
                         "lastModified": format_instant(version.last_updated)}
    return entry


def history_bundle(base: str, path: str, query: list[tuple[str, str]], versions: list[ResourceVersion],
                   next_query: list[tuple[str, str]] | None) -> dict[str, Any]:
    links = [{"relation": "self", "url": f"{base}/{path}" + (f"?{urlencode(query)}" if query else "")}]
    if next_query:
        links.append({"relation": "next", "url": f"{base}/{path}?{urlencode(next_query)}"})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "history"}
    if next_query is None and "_offset" not in dict(query):
        bundle["total"] = len(versions)  # the whole history is on this one page
    bundle["link"] = links
    bundle["entry"] = [_entry(base, v) for v in versions]
    return bundle


def _whole(params: dict[str, str], name: str, default: int) -> int:
    """A whole-number parameter in ASCII digits (``str.isdigit`` takes "²" too), else ``default``."""
    value = params.get(name, "")
    return int(value) if value.isascii() and value.isdigit() else default
