"""Finds stored messages for operators: by status, type and trigger, channel, control id, sending
facility, patient identifier, time or text in the raw message, newest first."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Mapping

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session, defer

from engine.db.models import Message, MessageResource, SearchToken, is_record_id

#: Most messages one page lists.
MAX_PAGE = 500


def page_size(limit: int) -> int:
    """``limit`` held to 1..:data:`MAX_PAGE`: SQLite reads a negative LIMIT as none at all."""
    return max(1, min(limit, MAX_PAGE))


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    message_type: str | None = None
    channel: str | None = None
    control_id: str | None = None
    since: datetime | None = None
    before_id: int | None = None  # keyset paging: messages older than this id
    limit: int = 50
    #: MSH-9.2; ``message_type`` without a ``^`` is MSH-9.1 alone.
    trigger: str | None = None
    #: MSH-4 (its first component, as the store keeps it).
    facility: str | None = None
    #: A patient identifier (``system|value`` or ``value``): messages that wrote that patient.
    identifier: str | None = None
    #: Received before this instant (``since`` is inclusive, ``until`` is not).
    until: datetime | None = None
    #: Text anywhere in the raw message (a scan: raw is patient data, the caller checks the role).
    text: str | None = None


def summary(message: Message) -> dict[str, Any]:
    """What an operator needs to find and judge a message: ids, codes and times, no content."""
    return {
        "id": message.id, "channel": message.channel, "contentType": message.content_type,
        "sender": message.sender, "controlId": message.control_id, "messageType": message.message_type,
        "status": message.status, "error": message.error, "size": message.size, "sha256": message.sha256,
        "receivedAt": message.received_at.isoformat() if message.received_at else None,
        "processedAt": message.processed_at.isoformat() if message.processed_at else None,
        "attempts": message.attempts,
    }


def find_messages(session: Session, criteria: MessageFilter) -> list[Message]:
    """The messages ``criteria`` names, newest first, without their content (raw and ACK are not loaded)."""
    query = select(Message).options(defer(Message.raw), defer(Message.ack))
    if criteria.status:
        query = query.where(Message.status == criteria.status)
    query = _type_condition(query, criteria.message_type, criteria.trigger)
    if criteria.channel:
        query = query.where(Message.channel == criteria.channel)
    if criteria.control_id:
        query = query.where(Message.control_id == criteria.control_id)
    if criteria.since:
        query = query.where(Message.received_at >= criteria.since)
    if criteria.before_id:
        query = query.where(Message.id < criteria.before_id)
    if criteria.until:
        query = query.where(Message.received_at < criteria.until)
    if criteria.facility:
        query = query.where(or_(Message.sender == criteria.facility,
                                Message.sender.endswith(f"|{criteria.facility}", autoescape=True)))
    if criteria.identifier:
        query = query.where(Message.id.in_(_messages_of_patient(criteria.identifier)))
    if criteria.text:
        query = query.where(_raw_contains(session, criteria.text))
    return list(session.scalars(query.order_by(Message.id.desc()).limit(page_size(criteria.limit))))


def counts_by_status(session: Session) -> dict[str, int]:
    return {status: count for status, count in session.execute(
        select(Message.status, func.count()).group_by(Message.status))}


#: The columns of :func:`summaries_csv`: ids, codes and times, no patient data.
CSV_COLUMNS = ("id", "receivedAt", "processedAt", "channel", "messageType", "controlId", "sender", "status",
               "attempts", "size", "sha256")


def summaries_csv(summaries: list[dict[str, Any]]) -> str:
    """Message summaries (:func:`summary`) as CSV with :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in summaries:
        writer.writerow(["" if row.get(column) is None else row[column] for column in CSV_COLUMNS])
    return out.getvalue()


def filter_from_params(params: Mapping[str, str], limit: int = 50) -> MessageFilter:
    """The filter a query string names: ``channel``, ``status``, ``type``, ``trigger``, ``control_id`` (or
    ``controlId``), ``facility``, ``identifier``, ``since``, ``until``, ``q`` and ``before`` (a message id);
    raises ValueError naming a bad value.

    Times are ISO 8601, UTC unless they say otherwise; ``until`` as a date alone means through that day.
    """
    def given(name: str) -> str | None:
        value = (params.get(name) or "").strip()
        return value or None

    before = given("before")
    if before is not None and not is_record_id(before):
        raise ValueError("before must be a message id")
    return MessageFilter(
        status=given("status"), message_type=given("type"), channel=given("channel"),
        control_id=given("control_id") or given("controlId"), since=_instant("since", given("since")),
        before_id=int(before) if before else None, limit=page_size(limit), trigger=given("trigger"),
        facility=given("facility"), identifier=given("identifier"),
        until=_instant("until", given("until"), end_of_day=True), text=given("q"))


#: The query parameter of each filter that has another name.
_PARAM_OF = {"message_type": "type", "before_id": "before", "text": "q"}


def filters_used(criteria: MessageFilter) -> list[str]:
    """The query parameters of the filters set (for the audit trail, which keeps names, never values)."""
    return [_PARAM_OF.get(f.name, f.name) for f in fields(criteria)
            if f.name != "limit" and getattr(criteria, f.name) not in (None, "")]


def _instant(name: str, value: str | None, *, end_of_day: bool = False) -> datetime | None:
    if value is None:
        return None
    try:
        if len(value) == 10:  # a date alone: its first instant (or the next day's, for an end)
            day = date.fromisoformat(value) + timedelta(days=1 if end_of_day else 0)
            return datetime.combine(day, time(), timezone.utc)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} must be an ISO 8601 date or time, e.g. 2026-05-01 or 2026-05-01T10:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _type_condition(query, message_type: str | None, trigger: str | None):
    """``ADT^A01`` as stored: ``type`` with a ``^`` is the whole of it, else the code (MSH-9.1) alone."""
    if message_type and ("^" in message_type or trigger):
        return query.where(Message.message_type == (f"{message_type}^{trigger}" if trigger else message_type))
    if message_type:
        return query.where(or_(Message.message_type == message_type,
                               Message.message_type.startswith(f"{message_type}^", autoescape=True)))
    if trigger:
        return query.where(Message.message_type.endswith(f"^{trigger}", autoescape=True))
    return query


def _messages_of_patient(identifier: str):
    """Ids of the messages that wrote a patient with this identifier: both lookups read an index."""
    system, bar, code = identifier.rpartition("|")
    patients = select(SearchToken.resource_id).where(
        SearchToken.resource_type == "Patient", SearchToken.param == "identifier", SearchToken.code == code)
    if bar:
        patients = patients.where(SearchToken.system == system if system else SearchToken.system.is_(None))
    return select(MessageResource.message_id).where(MessageResource.resource_type == "Patient",
                                                    MessageResource.resource_id.in_(patients))


def _raw_contains(session: Session, text: str):
    """The raw bytes hold ``text`` (UTF-8), ignoring the case of ASCII letters. SQLite's LIKE matches
    the blob cast to text (on the blob itself it matches nothing); PostgreSQL's bytea is read through
    ``encode(..., 'escape')``, which keeps printable ASCII and writes other bytes as ``\\nnn``, so the
    text is escaped the same way."""
    if session.get_bind().dialect.name == "postgresql":
        escaped = "".join("\\\\" if byte == 0x5C else f"\\{byte:03o}" if byte == 0 or byte > 0x7F else chr(byte)
                          for byte in text.encode("utf-8"))
        return func.encode(Message.raw, "escape").icontains(escaped, autoescape=True)
    return cast(Message.raw, String).contains(text, autoescape=True)
