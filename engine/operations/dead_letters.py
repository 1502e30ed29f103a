"""Parked deliveries (the dead letters): list them, group them by reason, send them again one by
one or in bulk, or cancel them with a reason.

A retry resets the outbox row (attempts, age) and gives it a fresh idempotency key, since it
follows a fix at the destination; the row's history stays in the sync log, where the retry's
``requested`` row starts a new round of attempt numbers (see :func:`engine.delivery.sync_log.attempt_logged`).
A cancellation ends the delivery for good: it is ``skipped``, the operator's reason on the row and
in the sync log, and it is never sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from sqlalchemy import func, select

from engine.db.database import Database
from engine.db.models import Delivery, DeliveryStatus, SyncAction, utcnow
from engine.delivery import sync_log

#: Most deliveries one listing returns.
DEFAULT_LIMIT = 100
#: The sync log's action for an operator's cancellation.
CANCEL = "cancel"
#: Longest reason an operator may give for a cancellation.
MAX_CANCEL_REASON = 500
#: The reason a group of deliveries is listed under when none was recorded.
NO_REASON = "(no reason recorded)"
#: Longest group reason shown; the rows keep the whole text.
MAX_GROUP_REASON = 160
#: What differs between deliveries parked for the same cause: the resource named, the delivery waited on.
_PARTICULARS = ((re.compile(r"\b([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}"), r"\1/…"),
                (re.compile(r"\bdelivery \d+"), "delivery …"))


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


def find_deliveries(database: Database, delivery_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The deliveries with these ids that exist, in id order."""
    with database.read() as session:
        return [summary(d) for d in session.scalars(
            select(Delivery).where(Delivery.id.in_(list(delivery_ids))).order_by(Delivery.id))]


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


def cancel(database: Database, delivery_ids: Iterable[int], reason: str, by: str | None = None) -> list[int]:
    """End parked deliveries without sending them: they become ``skipped`` with the operator's reason.

    Returns the ids cancelled, in id order; deliveries that are not parked are left alone (a
    pending one may be in a worker's hands). Each cancellation is a sync-log row of its own.
    """
    reason = " ".join(reason.split())[:MAX_CANCEL_REASON]
    if not reason:
        raise ValueError("a cancellation needs a reason")
    who = by or "an operator"
    now = utcnow()
    cancelled = []
    with database.write() as session:
        # Locked: a second cancel of the same deliveries waits, then finds them no longer parked (one row each
        # in the sync log, not two).
        for delivery in session.scalars(select(Delivery).where(
                Delivery.status == DeliveryStatus.FAILED, Delivery.id.in_(list(delivery_ids)))
                .order_by(Delivery.id).with_for_update()):
            parked_for = delivery.last_error or NO_REASON
            delivery.status, delivery.updated_at = DeliveryStatus.SKIPPED, now
            delivery.last_error = f"cancelled by {who}: {reason}"
            sync_log.record(session, delivery, sync_log.SKIPPED,
                            f"cancelled by {who}: {reason} (was parked: {parked_for})", action=CANCEL)
            cancelled.append(delivery.id)
    return cancelled


def reason_group(reason: str | None) -> str:
    """What deliveries parked for the same cause share: the reason's first line, without the resource
    and delivery it names (``references Patient/…, which is not in the repository``)."""
    lines = (reason or "").strip().splitlines()
    if not lines:
        return NO_REASON
    first = lines[0].strip()
    for particular, replacement in _PARTICULARS:
        first = particular.sub(replacement, first)
    return first if len(first) <= MAX_GROUP_REASON else first[:MAX_GROUP_REASON - 1] + "…"


@dataclass
class DeliveryGroup:
    """Deliveries of one destination listed under one reason (see :func:`reason_group`)."""

    destination: str
    reason: str
    deliveries: list[dict[str, Any]] = field(default_factory=list)


def grouped_deliveries(database: Database, status: str | None = DeliveryStatus.FAILED, destination: str | None = None,
                       limit: int = DEFAULT_LIMIT) -> tuple[list[DeliveryGroup], int]:
    """The newest ``limit`` deliveries by status (parked by default) grouped by destination and reason, the
    largest group of a destination first; and how many deliveries match in all."""
    groups: dict[tuple[str, str], DeliveryGroup] = {}
    for row in list_deliveries(database, status, destination, limit):
        key = (row["destination"], reason_group(row["reason"]))
        groups.setdefault(key, DeliveryGroup(*key)).deliveries.append(row)
    query = select(func.count()).select_from(Delivery)
    if status:
        query = query.where(Delivery.status == status)
    if destination:
        query = query.where(Delivery.destination == destination)
    with database.read() as session:
        total = session.scalar(query)
    ordered = sorted(groups.values(), key=lambda g: (g.destination, -len(g.deliveries), g.reason))
    return ordered, total
