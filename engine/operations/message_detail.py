"""Everything an operator asks about one stored message: what it said (segments and fields by name,
escapes decoded), how the engine answered it (the ACK), the resources it wrote with their history,
and each delivery of those resources with its sync-log rows.

The raw content is patient data: :func:`message_detail` reads it only when asked (``with_raw``);
the rest is ids, codes, times and reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine.db.models import (
    HL7_CONTENT_TYPE,
    Delivery,
    DeliveryStatus,
    Message,
    MessageResource,
    ResourceRecord,
    ResourceVersion,
    SyncLogEntry,
)
from engine.operations.dead_letters import summary as delivery_summary
from engine.operations.sync_log_queries import row as sync_log_row
from engine.store.message_queries import summary
from foundation import decimal_json
from mappings.errors import MappingError
from mappings.v2.field_names import field_name, segment_name
from mappings.v2.header import decode_message, read_header
from mappings.v2.message import Segment, parse_segments

#: Most versions of one resource listed with a message.
MAX_HISTORY = 20


@dataclass(frozen=True)
class FieldView:
    """One field that holds something: ``PID-5`` "Patient Name", its repetitions of components of
    subcomponents, each leaf unescaped (``\\F\\`` shown as the ``|`` it stands for)."""

    segment: str
    number: int
    name: str | None
    repetitions: list[list[list[str]]]

    @property
    def label(self) -> str:
        return f"{self.segment}-{self.number}"


@dataclass(frozen=True)
class SegmentView:
    name: str
    #: "Patient Identification" for PID; ``None`` for a segment the table lacks (a Z-segment).
    description: str | None
    fields: list[FieldView]


@dataclass(frozen=True)
class Hl7View:
    """A parsed message: its separators (for showing components apart) and its segments."""

    separators: str  # field, component, repetition, escape, subcomponent
    segments: list[SegmentView]


@dataclass
class ResourceView:
    resource_type: str
    id: str
    #: The version this message made, or the one it found unchanged.
    version: int
    changed: bool
    current_version: int | None
    deleted: bool
    #: Newest first: (version, method, when, the message that wrote it).
    history: list[tuple[int, str, Any, int | None]] = field(default_factory=list)
    #: The version's FHIR JSON: only read ``with_raw``.
    content: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"


@dataclass
class DeliveryView:
    summary: dict[str, Any]
    #: The sync-log rows of this delivery, oldest first.
    log: list[dict[str, Any]]

    @property
    def parked(self) -> bool:
        return self.summary["status"] == DeliveryStatus.FAILED


@dataclass
class MessageDetail:
    summary: dict[str, Any]
    replayable: bool
    #: The message's mapping notes (status ``mapped``) or why it failed.
    notes: str | None
    ack: str | None
    ack_view: Hl7View | None
    resources: list[ResourceView]
    deliveries: list[DeliveryView]
    #: The raw text (segments one a line) and its parse: only ``with_raw``.
    raw_text: str | None = None
    parsed: Hl7View | None = None
    #: Why the raw message could not be parsed, when it could not.
    parse_problem: str | None = None

    def ack_field(self, segment: str, number: int) -> str | None:
        """The first component of a field of the ACK (``("MSA", 1)``: ``AA``), ``None`` when it has none."""
        for view in self.ack_view.segments if self.ack_view else []:
            if view.name == segment:
                found = next((f for f in view.fields if f.number == number), None)
                return found.repetitions[0][0][0] if found else None
        return None

    @property
    def patients(self) -> list[str]:
        """Ids of the current patients this message wrote, for a resync."""
        return [r.id for r in self.resources if r.resource_type == "Patient" and not r.deleted]


def hl7_view(text: str) -> Hl7View:
    """Segments and named fields of CR-separated HL7 text; raises MappingError when it does not parse."""
    header = read_header(text)
    separators = header.field_separator + header.encoding_characters.ljust(4, "&")
    views = []
    for segment in parse_segments(text):
        views.append(SegmentView(segment.name, segment_name(segment.name), _fields(segment)))
    return Hl7View(separators, views)


def _fields(segment: Segment) -> list[FieldView]:
    found = []
    for number, value in enumerate(segment.fields[1:], start=1):
        if any(leaf for rep in value for component in rep for leaf in component):
            found.append(FieldView(segment.name, number, field_name(segment.name, number), value))
    return found


def message_detail(session: Session, message_id: int, *, with_raw: bool,
                   channel_charsets: Mapping[str, str] | None = None) -> MessageDetail | None:
    """The detail of one message, ``None`` when there is none; ``with_raw`` adds its content, decoded
    by MSH-18 or else its channel's charset (``channel_charsets``, UTF-8 by default)."""
    message = session.get(Message, message_id)
    if message is None:
        return None
    resources = _resources(session, message, with_raw)
    detail = MessageDetail(
        summary=summary(message),
        replayable=message.content_type == HL7_CONTENT_TYPE and message.file_name is None
        and message.message_type is not None,
        notes=message.error, ack=message.ack, ack_view=_parsed_or_none(message.ack),
        resources=resources, deliveries=_deliveries(session, resources))
    if with_raw and message.content_type == HL7_CONTENT_TYPE:
        try:
            text = decode_message(message.raw, (channel_charsets or {}).get(message.channel, "utf-8"))
            detail.raw_text = text.replace("\r", "\n")
            detail.parsed = hl7_view(text)
        except MappingError as exc:
            detail.parse_problem = str(exc)
    if with_raw and detail.raw_text is None:
        detail.raw_text = _as_text(message)
    return detail


def _as_text(message: Message) -> str:
    """A stored unit as text when it is text (a message without MSH, a CDA, a CSV); a PDF is not shown."""
    try:
        return message.raw.decode("utf-8").replace("\r", "\n")
    except UnicodeDecodeError:
        if message.content_type == HL7_CONTENT_TYPE:
            return message.raw.decode("latin-1").replace("\r", "\n")
        return f"({message.size} bytes of {message.content_type}: not text, not shown)"


def _parsed_or_none(text: str | None) -> Hl7View | None:
    if not text:
        return None
    try:
        return hl7_view(text.replace("\n", "\r"))
    except MappingError:
        return None


def _resources(session: Session, message: Message, with_raw: bool) -> list[ResourceView]:
    """What the message wrote: its links, and for messages without any (files, messages from before
    the links were kept) the versions it made."""
    links = [(r.resource_type, r.resource_id, r.version_id, r.changed) for r in session.scalars(
        select(MessageResource).where(MessageResource.message_id == message.id))]
    if not links:
        made: dict[tuple[str, str], int] = {}
        for version in session.scalars(select(ResourceVersion).where(ResourceVersion.message_id == message.id)):
            key = (version.resource_type, version.id)
            made[key] = max(made.get(key, 0), version.version_id)
        links = [(t, i, v, True) for (t, i), v in made.items()]
    views = []
    for resource_type, resource_id, version, changed in sorted(links):
        record = session.get(ResourceRecord, (resource_type, resource_id))
        history = list(session.scalars(
            select(ResourceVersion).where(ResourceVersion.resource_type == resource_type,
                                          ResourceVersion.id == resource_id)
            .order_by(ResourceVersion.version_id.desc()).limit(MAX_HISTORY)))
        view = ResourceView(resource_type, resource_id, version, changed,
                            record.version_id if record else None, bool(record and record.deleted),
                            [(v.version_id, v.method, v.last_updated, v.message_id) for v in history])
        if with_raw:
            written = session.get(ResourceVersion, (resource_type, resource_id, version))
            view.content = decimal_json.dumps(decimal_json.loads(written.content), indent=2) \
                if written and written.content else None
        views.append(view)
    return views


def _deliveries(session: Session, resources: list[ResourceView]) -> list[DeliveryView]:
    """Every delivery of the versions the message wrote (automatic, retried or resynced), oldest first."""
    if not resources:
        return []
    deliveries = list(session.scalars(select(Delivery).where(or_(*(
        and_(Delivery.resource_type == r.resource_type, Delivery.resource_id == r.id,
             Delivery.resource_version == r.version) for r in resources))).order_by(Delivery.id)))
    if not deliveries:
        return []
    rows: dict[int, list[dict[str, Any]]] = {d.id: [] for d in deliveries}
    for entry in session.scalars(select(SyncLogEntry).where(SyncLogEntry.delivery_id.in_(list(rows)))
                                 .order_by(SyncLogEntry.id)):
        rows[entry.delivery_id].append(sync_log_row(entry))
    return [DeliveryView(delivery_summary(d), rows[d.id]) for d in deliveries]

