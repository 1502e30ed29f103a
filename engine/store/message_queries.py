"""Finds stored messages for operators: by status, type, channel, control id or time, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db.models import Message

#: Most messages one page lists.
MAX_PAGE = 500


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    message_type: str | None = None
    channel: str | None = None
    control_id: str | None = None
    since: datetime | None = None
    before_id: int | None = None  # keyset paging: messages older than this id
    limit: int = 50


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
    query = select(Message)
    if criteria.status:
        query = query.where(Message.status == criteria.status)
    if criteria.message_type:
        query = query.where(Message.message_type == criteria.message_type)
    if criteria.channel:
        query = query.where(Message.channel == criteria.channel)
    if criteria.control_id:
        query = query.where(Message.control_id == criteria.control_id)
    if criteria.since:
        query = query.where(Message.received_at >= criteria.since)
    if criteria.before_id:
        query = query.where(Message.id < criteria.before_id)
    return list(session.scalars(query.order_by(Message.id.desc()).limit(min(criteria.limit, MAX_PAGE))))


def counts_by_status(session: Session) -> dict[str, int]:
    return {status: count for status, count in session.execute(
        select(Message.status, func.count()).group_by(Message.status))}
