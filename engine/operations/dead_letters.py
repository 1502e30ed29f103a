"""Parked deliveries (the dead letters): list them, and send them again one by one or in bulk.

A retry resets the outbox row (attempts, age) and gives it a fresh idempotency key, since it
follows a fix at the destination; the row's history stays in the sync log, where the retry's
``requested`` row starts a new round of attempt numbers (see :func:`engine.delivery.sync_log.attempt_logged`).
"""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import select

from engine.db.database import Database
from engine.db.models import Delivery, DeliveryStatus, SyncAction, utcnow
from engine.delivery import sync_log

#: Most deliveries one listing returns.
DEFAULT_LIMIT = 100


def summary(delivery: Delivery) -> dict[str, Any]:
    """What an operator sees of a delivery: ids, status and reason, never the resource's content."""
    return {
        "id": delivery.id, "destination": delivery.destination,
        "resource": f"{delivery.resource_type}/{delivery.resource_id}", "version": delivery.resource_version,
        "status": delivery.status, "attempts": delivery.attempts, "origin": delivery.origin,
        "route": delivery.route, "reason": delivery.last_error, "remote_id": delivery.remote_id,
        "waiting_for": delivery.waiting_for, "updated_at": delivery.updated_at.isoformat() if delivery.updated_at else None,
    }


def list_deliveries(database: Database, status: str | None = DeliveryStatus.FAILED, destination: str | None = None,
                    limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Deliveries by status (parked ones by default), newest first."""
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if status:
        query = query.where(Delivery.status == status)
    if destination:
        query = query.where(Delivery.destination == destination)
    with database.read() as session:
        return [summary(d) for d in session.scalars(query)]


def get_delivery(database: Database, delivery_id: int) -> dict[str, Any] | None:
    with database.read() as session:
        found = session.get(Delivery, delivery_id)
        return summary(found) if found is not None else None


def retry(database: Database, delivery_ids: Iterable[int] | None = None, destination: str | None = None) -> list[int]:
    """Make parked deliveries pending again: the ones named, or every parked one (of a destination).

    Returns the ids made pending, in id order (one patient's records keep their order);
    deliveries that are not parked are left alone.
    """
    now = utcnow()
    query = select(Delivery).where(Delivery.status == DeliveryStatus.FAILED).order_by(Delivery.id)
    if delivery_ids is not None:
        query = query.where(Delivery.id.in_(list(delivery_ids)))
    if destination:
        query = query.where(Delivery.destination == destination)
    retried = []
    with database.write() as session:
        for delivery in session.scalars(query):
            reason = delivery.last_error
            delivery.status, delivery.origin = DeliveryStatus.PENDING, SyncAction.RETRY
            delivery.attempts, delivery.operator_retries = 0, (delivery.operator_retries or 0) + 1
            delivery.created_at = delivery.next_attempt_at = delivery.updated_at = now
            # Not queued yet: the caller queues it, and the sweeper does if that message is lost.
            delivery.enqueued_at, delivery.waiting_for, delivery.last_error = None, None, None
            sync_log.record(session, delivery, sync_log.REQUESTED,
                            f"operator retry requested (was parked: {reason or 'no reason recorded'})",
                            action=SyncAction.RETRY)
            retried.append(delivery.id)
    return retried
