"""What a replay would change, before it does: a stored message mapped again by the mapping in force
now, each resource as the replay would write it (identities resolved, merged with the stored version)
next to the version the message wrote last time, as a field-level diff. Nothing is written.

Example::

    preview = preview_replay(database, repository, mapper, 42, channel_charsets)
    for resource in preview.resources:
        print(resource.reference, [(c.kind, c.path) for c in resource.changes])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.database import Database
from engine.db.models import HL7_CONTENT_TYPE, Message, MessageResource, ResourceVersion
from engine.operations.replay import UnreplayableMessage
from engine.repository.resources import FhirRepository
from engine.repository.validation import ResourceInvalid, validate_resource
from foundation import decimal_json
from mappings.errors import MappingError
from mappings.result import MappingResult
from mappings.v2.header import read_header

#: Top-level elements the server manages: never a difference a mapping made.
IGNORED_ELEMENTS = frozenset({"id", "meta"})
#: The kinds of one difference, in the order a page lists them.
ADDED, REMOVED, CHANGED = "added", "removed", "changed"


class Mapper(Protocol):
    def map(self, raw: bytes, channel: str | None = None, default_charset: str = "utf-8",
            header: Any = None) -> MappingResult: ...


@dataclass(frozen=True)
class Change:
    """One element that differs: its dotted path (``name[0].family``) and its values before and after."""

    kind: str
    path: str
    before: Any = None
    after: Any = None


@dataclass
class ResourcePreview:
    resource_type: str
    #: The stored resource's id; ``None`` when the replay would create a new one.
    id: str | None
    #: The version the message wrote last time (``None``: it wrote none of this resource).
    last_version: int | None
    changes: list[Change] = field(default_factory=list)
    #: Problems FHIR validation would refuse the resource for (a replay would then fail).
    problems: list[str] = field(default_factory=list)
    #: The message wrote it last time, and the mapping in force now does not produce it.
    dropped: bool = False

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}" if self.id else f"{self.resource_type} (new)"

    def as_dict(self, with_values: bool) -> dict[str, Any]:
        return {"resourceType": self.resource_type, "id": self.id, "lastVersion": self.last_version,
                "dropped": self.dropped, "problems": self.problems,
                "changes": [_change_dict(c, with_values) for c in self.changes]}


@dataclass
class ReplayPreview:
    message_id: int
    message_type: str | None
    #: Why the mapping in force now fails for this message (a replay would store it as ``error``).
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    resources: list[ResourcePreview] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(r.changes or r.dropped or r.problems for r in self.resources) or self.error is not None

    def as_dict(self, with_values: bool = False) -> dict[str, Any]:
        """JSON of the preview; the values before and after are patient data, left out unless ``with_values``."""
        return {"messageId": self.message_id, "messageType": self.message_type, "error": self.error,
                "notes": self.notes, "changed": self.changed,
                "resources": [r.as_dict(with_values) for r in self.resources]}


def _change_dict(change: Change, with_values: bool) -> dict[str, Any]:
    found = {"kind": change.kind, "path": change.path}
    if with_values:
        found.update(before=change.before, after=change.after)
    return found


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf values of JSON by dotted path: ``{"name": [{"family": "Doe"}]}`` -> ``{"name[0].family": "Doe"}``."""
    if isinstance(node, dict):
        found: dict[str, Any] = {}
        for key, value in node.items():
            if not prefix and key in IGNORED_ELEMENTS:
                continue
            found.update(flatten(value, f"{prefix}.{key}" if prefix else key))
        return found
    if isinstance(node, list):
        found = {}
        for index, value in enumerate(node):
            found.update(flatten(value, f"{prefix}[{index}]"))
        return found
    return {prefix: node}


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Change]:
    """The elements added, removed and changed from ``before`` to ``after``, each by path."""
    old, new = flatten(before or {}), flatten(after or {})
    changes = [Change(ADDED, p, after=new[p]) for p in new if p not in old]
    changes += [Change(REMOVED, p, before=old[p]) for p in old if p not in new]
    changes += [Change(CHANGED, p, old[p], new[p]) for p in new if p in old and not _same(old[p], new[p])]
    return changes


def _same(a: Any, b: Any) -> bool:
    # 1.0 and 1.00 are equal Decimals of different precision: a replay would write a new version.
    return a == b and decimal_json.dumps(a) == decimal_json.dumps(b)


def replayable(message: Message | None, message_id: int) -> Message:
    """The message, when a replay can take it; raises :class:`UnreplayableMessage` as a replay would."""
    if message is None:
        raise UnreplayableMessage(f"no message {message_id}")
    if message.content_type != HL7_CONTENT_TYPE:
        raise UnreplayableMessage(f"message {message_id} is {message.content_type}; only HL7 v2 replays here")
    if message.file_name is not None:
        raise UnreplayableMessage(f"message {message_id} is a stored file; replay the messages it held")
    return message


def preview_replay(database: Database, repository: FhirRepository, mapper: Mapper, message_id: int,
                   channel_charsets: Mapping[str, str] | None = None) -> ReplayPreview:
    """What replaying ``message_id`` would write, against what it wrote last time; writes nothing."""
    with database.read() as session:
        message = replayable(session.get(Message, message_id), message_id)
        try:
            header = read_header(message.raw)
        except MappingError as exc:
            raise UnreplayableMessage(f"message {message_id} has no readable MSH: {exc}") from None
        preview = ReplayPreview(message_id, header.message_type)
        try:
            result = mapper.map(message.raw, message.channel, (channel_charsets or {}).get(message.channel, "utf-8"),
                                header=header)
        except MappingError as exc:
            preview.error = str(exc)
            return preview
        preview.notes = list(result.notes)
        last = _last_written(session, message_id)
        for resource_type, resource_id, resource in _as_replay_writes(session, repository, result):
            version = last.pop((resource_type, resource_id), None) if resource_id else None
            before = version[1] if version else (repository.current(session, resource_type, resource_id)
                                                 if resource_id else None)
            preview.resources.append(ResourcePreview(resource_type, resource_id, version[0] if version else None,
                                                     diff(before, resource), validation_problems(resource)))
        for (resource_type, resource_id), (version, content) in sorted(last.items()):
            preview.resources.append(ResourcePreview(resource_type, resource_id, version, [], dropped=True))
    return preview


def _as_replay_writes(session: Session, repository: FhirRepository,
                      result: MappingResult) -> list[tuple[str, str | None, dict[str, Any]]]:
    """Each resource as :meth:`FhirRepository.apply_mapping` would save it: (type, stored id or ``None``, content),
    planned by the repository itself, read-only (no identity locks)."""
    return [(p.resource_type, p.existing, p.resource)
            for p in repository.plan_mapping(session, result.resources, lock=False)]


def _last_written(session: Session, message_id: int) -> dict[tuple[str, str], tuple[int, dict[str, Any] | None]]:
    """The version of each resource the message wrote (or left unchanged) last time, and its content."""
    found = {}
    for link in session.scalars(select(MessageResource).where(MessageResource.message_id == message_id)):
        version = session.get(ResourceVersion, (link.resource_type, link.resource_id, link.version_id))
        content = decimal_json.loads(version.content) if version and version.content else None
        found[(link.resource_type, link.resource_id)] = (link.version_id, content)
    return found


def validation_problems(resource: dict[str, Any]) -> list[str]:
    try:
        validate_resource(resource)
    except ResourceInvalid as exc:
        return [f"{i.expression}: {i.message}" for i in exc.issues]
    return []


def as_lines(preview: ReplayPreview, with_values: bool = False) -> list[str]:
    """The preview as text, a line per resource and per changed element (``carebridge messages replay --diff``)."""
    changing = sum(bool(r.changes or r.dropped or r.problems) for r in preview.resources)
    lines = [f"message {preview.message_id} ({preview.message_type}): "
             + (f"the mapping fails: {preview.error}" if preview.error else
                f"a replay would change {changing} of {len(preview.resources)} resources")]
    lines += [f"  note: {note}" for note in preview.notes]
    for resource in preview.resources:
        against = ("no longer made by the mapping: left as it is" if resource.dropped else
                   f"against version {resource.last_version}" if resource.last_version else
                   "against its current version" if resource.id else "new")
        lines.append(f"{resource.reference} ({against})")
        lines += [f"  invalid  {problem}" for problem in resource.problems]
        for kind in (ADDED, REMOVED, CHANGED):
            for change in (c for c in resource.changes if c.kind == kind):
                shown = ""
                if with_values:
                    shown = {ADDED: f": {change.after!r}", REMOVED: f": {change.before!r}",
                             CHANGED: f": {change.before!r} -> {change.after!r}"}[kind]
                lines.append(f"  {kind:<8} {change.path}{shown}")
    return lines
