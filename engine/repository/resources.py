"""The FHIR repository: current versions, history and search index of every resource.

Writes go through :meth:`FhirRepository.save`, which validates, assigns ``meta``, keeps the
old version in history, refreshes the search index, and skips a write that would change
nothing (so a resent message makes no new version and no new delivery).
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.database import Database
from engine.db.models import ResourceRecord, ResourceVersion, SearchToken, utcnow
from engine.repository.merge import fold, merge_update
from engine.repository.search_index import reindex
from engine.repository.validation import validate_resource
from foundation import decimal_json
from foundation.errors import CarebridgeError
from mappings.result import MappedResource

#: How many ``replaced-by`` links an identity lookup follows before giving up (a loop guard).
MAX_LINK_HOPS = 10


@dataclass(frozen=True)
class WriteOutcome:
    """What a write did: which version it made, and whether anything changed."""

    resource_type: str
    id: str
    version_id: int
    resource: dict[str, Any]
    created: bool
    changed: bool

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"


class VersionConflict(CarebridgeError):
    """An update named a version that is not the current one (HTTP 412)."""


def format_instant(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _content(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without the server-managed parts, for comparing versions."""
    content = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        content["meta"] = meta
    return content


def _same_content(stored: dict[str, Any], resource: dict[str, Any]) -> bool:
    """Equal, and equal as text: ``1.0`` and ``1.00`` are Decimals that compare equal but differ in precision.

    The dict comparison settles every real change; only a resend that looks unchanged is serialised."""
    stored, resource = _content(stored), _content(resource)
    return stored == resource and decimal_json.dumps(stored, sort_keys=True) == decimal_json.dumps(resource, sort_keys=True)


def _rewrite_references(node: Any, placeholders: dict[str, str]) -> Any:
    if isinstance(node, dict):
        rewritten = {k: _rewrite_references(v, placeholders) for k, v in node.items()}
        reference = rewritten.get("reference")
        if isinstance(reference, str) and reference in placeholders:
            rewritten["reference"] = placeholders[reference]
        return rewritten
    if isinstance(node, list):
        return [_rewrite_references(v, placeholders) for v in node]
    return node


class FhirRepository:
    """Reads and writes FHIR resources.

    Example::

        with db.write() as session:
            outcome = repository.save(session, {"resourceType": "Patient", "name": [{"family": "Doe"}]})
    """

    def __init__(self, database: Database):
        self.database = database

    # Reading ---------------------------------------------------------------------------

    def record(self, session: Session, resource_type: str, resource_id: str) -> ResourceRecord | None:
        return session.get(ResourceRecord, (resource_type, resource_id))

    def current(self, session: Session, resource_type: str, resource_id: str) -> dict[str, Any] | None:
        """The current version, or ``None`` if unknown or deleted."""
        record = self.record(session, resource_type, resource_id)
        if record is None or record.deleted or record.content is None:
            return None
        return decimal_json.loads(record.content)

    def version(self, session: Session, resource_type: str, resource_id: str, version_id: int) -> ResourceVersion | None:
        return session.get(ResourceVersion, (resource_type, resource_id, version_id))

    def history(self, session: Session, resource_type: str, resource_id: str) -> list[ResourceVersion]:
        return list(session.scalars(
            select(ResourceVersion)
            .where(ResourceVersion.resource_type == resource_type, ResourceVersion.id == resource_id)
            .order_by(ResourceVersion.version_id.desc())
        ))

    def ids_with_token(self, session: Session, resource_type: str, param: str, value: str) -> list[str]:
        """Ids of current resources whose token parameter matches ``system|code``, ``|code`` or ``code``."""
        system, bar, code = value.rpartition("|")
        query = select(SearchToken.resource_id).where(
            SearchToken.resource_type == resource_type, SearchToken.param == param, SearchToken.code == code)
        if bar:
            query = query.where(SearchToken.system == system) if system else query.where(SearchToken.system.is_(None))
        return sorted(set(session.scalars(query)))

    def resolve_identity(self, session: Session, resource_type: str,
                         identity: Iterable[tuple[str, str]]) -> str | None:
        """The id of the stored resource an identity names, following ``replaced-by`` links of merges
        (the first, should the identity be ambiguous; :meth:`identity_matches` tells)."""
        matches = self.identity_matches(session, resource_type, identity)
        return matches[0] if matches else None

    def identity_matches(self, session: Session, resource_type: str,
                         identity: Iterable[tuple[str, str]]) -> list[str]:
        """Every stored resource the first matching part of an identity names, merges followed.

        More than one means the identity is ambiguous (a bare value two systems both use).
        """
        for param, value in identity:
            found = self.ids_with_token(session, resource_type, param, value)
            if found:
                return sorted({self._follow_replacements(session, resource_type, i) for i in found})
        return []

    def _follow_replacements(self, session: Session, resource_type: str, resource_id: str) -> str:
        for _ in range(MAX_LINK_HOPS):
            resource = self.current(session, resource_type, resource_id)
            successor = next((link.get("other", {}).get("reference") for link in (resource or {}).get("link") or []
                              if link.get("type") == "replaced-by"), None)
            if not successor or not successor.startswith(f"{resource_type}/"):
                return resource_id
            resource_id = successor.split("/", 1)[1]
        return resource_id

    # Writing ---------------------------------------------------------------------------

    def save(self, session: Session, resource: dict[str, Any], *, resource_id: str | None = None,
             if_match: int | None = None, message_id: int | None = None) -> WriteOutcome:
        """Create or update ``resource`` (validated); returns the outcome without committing."""
        resource = copy.deepcopy(resource)
        resource_type = resource["resourceType"]
        resource_id = resource_id or resource.get("id") or str(uuid.uuid4())
        resource["id"] = resource_id
        validate_resource(resource)
        record = self.record(session, resource_type, resource_id)
        if if_match is not None and (record is None or record.version_id != if_match or record.deleted):
            raise VersionConflict(f"{resource_type}/{resource_id} is not at version {if_match}")
        if record is not None and not record.deleted and record.content is not None:
            stored = decimal_json.loads(record.content)
            if _same_content(stored, resource):
                return WriteOutcome(resource_type, resource_id, record.version_id, stored, created=False, changed=False)
        now = utcnow()
        version_id = (record.version_id + 1) if record else 1
        created = record is None or record.deleted
        resource["meta"] = {**(resource.get("meta") or {}), "versionId": str(version_id),
                            "lastUpdated": format_instant(now)}
        content = decimal_json.dumps(resource, compact=True)
        if record is None:
            record = ResourceRecord(resource_type=resource_type, id=resource_id)
            session.add(record)
        record.version_id, record.last_updated, record.deleted = version_id, now, False
        record.content, record.message_id = content, message_id
        session.add(ResourceVersion(resource_type=resource_type, id=resource_id, version_id=version_id,
                                    last_updated=now, method="create" if created else "update",
                                    content=content, message_id=message_id))
        reindex(session, resource_type, resource_id, resource, fresh=created)
        return WriteOutcome(resource_type, resource_id, version_id, resource, created=created, changed=True)

    def delete(self, session: Session, resource_type: str, resource_id: str) -> WriteOutcome | None:
        """Mark a resource deleted (history keeps it); ``None`` if there was nothing to delete."""
        record = self.record(session, resource_type, resource_id)
        if record is None or record.deleted:
            return None
        now = utcnow()
        record.version_id += 1
        record.last_updated, record.deleted, record.content = now, True, None
        session.add(ResourceVersion(resource_type=resource_type, id=resource_id, version_id=record.version_id,
                                    last_updated=now, method="delete", content=None))
        reindex(session, resource_type, resource_id, None)
        return WriteOutcome(resource_type, resource_id, record.version_id, {}, created=False, changed=True)

    def apply_mapping(self, session: Session, mapped: list[MappedResource],
                      message_id: int | None = None) -> list[WriteOutcome]:
        """Write the resources one message maps to: identities resolved, placeholders made references.

        Resources of the message that share an identity are written as one. An update merges
        with the stored version as :mod:`engine.repository.merge` describes.
        """
        return [self.save(session, planned.resource, resource_id=planned.resource_id, message_id=message_id)
                for planned in self.plan_mapping(session, mapped)]

    def plan_mapping(self, session: Session, mapped: list[MappedResource], *, lock: bool = True) -> list[PlannedWrite]:
        """What :meth:`apply_mapping` would save, without saving: each resource with its identity resolved,
        placeholders made references and an update merged with the stored version. ``lock=False`` takes no
        identity locks (a read-only preview)."""
        placeholders: dict[str, str] = {}
        targets: list[tuple[MappedResource, str | None]] = []
        for item in _fold_same_identity(mapped):
            if lock:  # serialise identity decisions per identity, so concurrent messages do not both create
                for param, value in item.identity:
                    self.database.lock(session, f"identity:{item.resource_type}:{param}:{value}")
            existing = self.resolve_identity(session, item.resource_type, item.identity)
            resource_id = existing or str(uuid.uuid4())
            for full_url in item.aliases:
                placeholders[full_url] = f"{item.resource_type}/{resource_id}"
            targets.append((item.mapped, existing))
        planned = []
        for item, existing in targets:
            resource = _rewrite_references(item.resource, placeholders)
            resource_id = placeholders[item.full_url].split("/", 1)[1]
            if existing and not item.replace:
                item = replace(item, remove=_rewrite_references(item.remove, placeholders))
                resource = merge_update(self.current(session, item.resource_type, existing) or {}, resource, item)
            planned.append(PlannedWrite(item.resource_type, resource_id, existing, resource))
        return planned


@dataclass(frozen=True)
class PlannedWrite:
    """One resource a mapping would save: its id (new when ``existing`` is ``None``) and content."""

    resource_type: str
    resource_id: str
    existing: str | None
    resource: dict[str, Any]


@dataclass
class _Folded:
    """One resource to write, and the placeholders of the message that name it."""

    mapped: MappedResource
    aliases: list[str]

    @property
    def resource_type(self) -> str:
        return self.mapped.resource_type

    @property
    def identity(self) -> list[tuple[str, str]]:
        return self.mapped.identity


def _fold_same_identity(mapped: list[MappedResource]) -> list[_Folded]:
    """The message's resources with those sharing an identity pair folded into the first."""
    folded: list[_Folded] = []
    by_identity: dict[tuple[str, str, str], _Folded] = {}
    for item in mapped:
        keys = [(item.resource_type, param, value) for param, value in item.identity]
        first = next((by_identity[k] for k in keys if k in by_identity), None)
        if first is None:
            first = _Folded(copy.copy(item), [item.full_url])
            folded.append(first)
        else:
            fold(first.mapped, item)
            first.aliases.append(item.full_url)
        for key in [(first.resource_type, p, v) for p, v in first.identity]:
            by_identity[key] = first
    return folded
