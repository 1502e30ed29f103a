"""Dependencies first: when a record names something the destination does not hold yet (an
appointment's client or team member), make sure that thing is on its way and park the
record until it arrives.

The dependent delivery waits on the dependency's outbox row (``waiting_for``); when that row
finishes, :func:`release_waiters` makes the dependents due again and they are re-announced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.db.models import CrossReference, Delivery, DeliveryStatus, ResourceRecord, utcnow
from engine.routing.router import order_key
from foundation import decimal_json

#: The route that would carry a stored version to a destination: (session, resource, version, destination).
RouteOf = Callable[[Session, dict[str, Any], int, str], "str | None"]


@dataclass(frozen=True)
class Wait:
    """Wait for this delivery (``created`` when it was made just now and must be announced)."""

    delivery_id: int
    created: bool


@dataclass(frozen=True)
class Park:
    """The dependency cannot be delivered; park the dependent with this reason."""

    reason: str


@dataclass(frozen=True)
class Ready:
    """The destination already holds the dependency (it arrived meanwhile): try again now."""


def ensure_dependency(session: Session, dependent: Delivery, reference: str,
                      route_of: RouteOf | None = None) -> Wait | Park | Ready:
    """Find or create the delivery of ``reference``'s current version to the dependent's destination.

    A created delivery goes by the route that would carry that resource there (``route_of``), so
    it is sent through that route's transform as if it had been routed itself.
    """
    resource_type, _, local_id = reference.partition("/")
    destination = dependent.destination
    if session.get(CrossReference, (destination, resource_type, local_id)) is not None:
        return Ready()
    record = session.get(ResourceRecord, (resource_type, local_id))
    if record is None or record.deleted or record.content is None:
        return Park(f"references {reference}, which is not in the repository")
    unfinished = session.scalar(
        select(Delivery.id).where(
            Delivery.destination == destination, Delivery.resource_type == resource_type,
            Delivery.resource_id == local_id,
            Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT)))
        .order_by(Delivery.id.desc()).limit(1))
    if unfinished is not None:
        return Wait(unfinished, created=False)
    parked = session.scalar(
        select(Delivery).where(
            Delivery.destination == destination, Delivery.resource_type == resource_type,
            Delivery.resource_id == local_id, Delivery.resource_version == record.version_id,
            Delivery.status == DeliveryStatus.FAILED)
        .order_by(Delivery.id.desc()).limit(1))
    if parked is not None:
        return Park(f"depends on {reference}, whose delivery {parked.id} is parked: {parked.last_error or ''}")
    now = utcnow()
    content = decimal_json.loads(record.content)
    created = Delivery(
        destination=destination, resource_type=resource_type, resource_id=local_id,
        resource_version=record.version_id, order_key=order_key(content), origin=dependent.origin,
        route=route_of(session, content, record.version_id, destination) if route_of else None,
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now,
        enqueued_at=now, created_at=now, updated_at=now)
    session.add(created)
    session.flush()
    return Wait(created.id, created=True)


def release_waiters(session: Session, finished: Delivery, now: datetime) -> list[int]:
    """Make the deliveries waiting on ``finished`` due now; returns their ids to announce."""
    waiting = list(session.scalars(select(Delivery.id).where(
        Delivery.waiting_for == finished.id, Delivery.status == DeliveryStatus.PENDING).order_by(Delivery.id)))
    if waiting:
        session.execute(update(Delivery).where(Delivery.id.in_(waiting))
                        .values(waiting_for=None, next_attempt_at=now, enqueued_at=now, updated_at=now)
                        .execution_options(synchronize_session=False))
    return waiting
