"""What an operator sees first: per channel and per destination, how much is where, and what failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.config.engine_config import EngineConfig
from engine.db.models import Delivery, DeliveryStatus, Message, MessageStatus, utcnow

#: How many recent failures the overview lists.
RECENT_FAILURES = 20


@dataclass
class ChannelView:
    name: str
    type: str
    counts: dict[str, int] = field(default_factory=dict)
    last_received: datetime | None = None


@dataclass
class DestinationView:
    name: str
    type: str
    active: bool
    counts: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: float | None = None


@dataclass
class Overview:
    channels: list[ChannelView]
    destinations: list[DestinationView]
    failed_messages: list[Message]
    parked_deliveries: list[Delivery]


def build_overview(session: Session, config: EngineConfig, active_destinations: set[str]) -> Overview:
    channels = {c.name: ChannelView(c.name, c.type) for c in config.channels}
    for channel, status, count, last in session.execute(
            select(Message.channel, Message.status, func.count(), func.max(Message.received_at))
            .group_by(Message.channel, Message.status)):
        view = channels.setdefault(channel, ChannelView(channel, "(not configured)"))
        view.counts[status] = count
        last = datetime.fromisoformat(str(last)) if last is not None and not isinstance(last, datetime) else last
        view.last_received = max(filter(None, (view.last_received, last)), default=None)
    destinations = {d.name: DestinationView(d.name, d.type, d.name in active_destinations) for d in config.destinations}
    for destination, status, count in session.execute(
            select(Delivery.destination, Delivery.status, func.count()).group_by(Delivery.destination, Delivery.status)):
        destinations.setdefault(destination, DestinationView(destination, "(not configured)", False)).counts[status] = count
    now = utcnow()
    for destination, oldest in session.execute(
            select(Delivery.destination, func.min(Delivery.created_at))
            .where(Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT)))
            .group_by(Delivery.destination)):
        if oldest is not None and destination in destinations:
            oldest = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
            destinations[destination].oldest_pending_seconds = (now - oldest).total_seconds()
    failed = list(session.scalars(
        select(Message).where(Message.status.in_((MessageStatus.ERROR, MessageStatus.UNSUPPORTED, MessageStatus.REFUSED)))
        .order_by(Message.id.desc()).limit(RECENT_FAILURES)))
    parked = list(session.scalars(
        select(Delivery).where(Delivery.status == DeliveryStatus.FAILED).order_by(Delivery.id.desc())
        .limit(RECENT_FAILURES)))
    return Overview(list(channels.values()), list(destinations.values()), failed, parked)
