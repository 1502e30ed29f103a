"""Prometheus gauges of the engine's state, read from the database when scraped.

Counting in the database rather than in process memory keeps the figures right however
many API, listener and worker processes run: every one of them answers the same.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select

from engine.db.database import Database
from engine.db.models import Delivery, DeliveryStatus, Message, utcnow


def render_metrics(database: Database) -> bytes:
    """The Prometheus text exposition of the current state."""
    registry = CollectorRegistry()
    messages = Gauge("carebridge_messages", "Stored inbound messages by channel and status",
                     ["channel", "status"], registry=registry)
    deliveries = Gauge("carebridge_deliveries", "Deliveries by destination and status",
                       ["destination", "status"], registry=registry)
    oldest = Gauge("carebridge_delivery_oldest_pending_seconds",
                   "Age of the oldest unfinished delivery per destination", ["destination"], registry=registry)
    attempts = Gauge("carebridge_delivery_attempts", "Delivery attempts made, by destination and status",
                     ["destination", "status"], registry=registry)
    now: datetime = utcnow()
    with database.read() as session:
        for channel, status, count in session.execute(
                select(Message.channel, Message.status, func.count()).group_by(Message.channel, Message.status)):
            messages.labels(channel, status).set(count)
        for destination, status, count, tries in session.execute(
                select(Delivery.destination, Delivery.status, func.count(), func.sum(Delivery.attempts))
                .group_by(Delivery.destination, Delivery.status)):
            deliveries.labels(destination, status).set(count)
            attempts.labels(destination, status).set(tries or 0)
        for destination, created in session.execute(
                select(Delivery.destination, func.min(Delivery.created_at))
                .where(Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT)))
                .group_by(Delivery.destination)):
            if created is not None:
                if created.tzinfo is None:  # min() bypasses the column type on SQLite
                    created = datetime.fromisoformat(str(created)).replace(tzinfo=now.tzinfo)
                oldest.labels(destination).set((now - created).total_seconds())
    return generate_latest(registry)
