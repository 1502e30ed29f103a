"""Carries out one delivery: claim it, keep order, call the destination, record the outcome.

The database is the source of truth. A worker claims a delivery with a lease; if the worker
dies the lease runs out and the sweeper hands the delivery to another. The destination is
called outside any transaction; what it answered is then recorded with the attempt's
sync-log row, and the next delivery in the same order is announced.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connectors.outbound.base import (Delivered, DeliveryItem, Destination, NeedsDependency, Outcome, Rejected,
                                      RetryLater)
from engine.db import Database
from engine.models import CrossReference, Delivery, DeliveryStatus, ResourceVersion, SyncLogEntry, utcnow
from engine.retry_policy import RetryPolicy
from engine.routing import patient_reference

log = logging.getLogger(__name__)

#: Longest reason kept on a delivery or sync-log row.
MAX_DETAIL = 2000
#: Sync-log statuses.
ATTEMPT_SUCCEEDED, ATTEMPT_FAILED, ATTEMPT_PARKED, ATTEMPT_SUPERSEDED = "success", "failed", "parked", "superseded"


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int
    destination: str
    item: DeliveryItem


class DeliveryService:
    """Runs deliveries against the configured destinations.

    Example::

        service = DeliveryService(db, {"carepatron": carepatron}, {"carepatron": RetryPolicy()}, queue.enqueue)
        service.run(42)
    """

    def __init__(self, database: Database, destinations: dict[str, Destination], policies: dict[str, RetryPolicy],
                 enqueue: Callable[..., None], lease_seconds: float = 60.0):
        self.database = database
        self.destinations = destinations
        self.policies = policies
        self.enqueue = enqueue
        self.lease = timedelta(seconds=lease_seconds)

    # The one entry point ---------------------------------------------------------------

    def run(self, delivery_id: int) -> None:
        """Attempt a delivery if it is due, unblocked and not held by another worker."""
        follow_up: list[int] = []
        with self.database.write() as session:
            claim = self._claim(session, delivery_id, follow_up)
        self._announce(follow_up)
        if claim is None:
            return
        destination = self.destinations.get(claim.destination)
        try:
            outcome = destination.deliver(claim.item) if destination else Rejected(
                f"destination {claim.destination!r} is not configured or not active")
        except Exception as exc:  # a connector bug: retry like a passing fault, with the type only
            log.exception("destination %s raised on delivery %s", claim.destination, claim.delivery_id)
            outcome = RetryLater(f"connector error: {type(exc).__name__}")
        delay = None
        with self.database.write() as session:
            delay = self._record(session, claim, outcome, follow_up)
        if delay is not None:
            self._announce([claim.delivery_id], delay)
        self._announce(follow_up)

    # Claiming --------------------------------------------------------------------------

    def _claim(self, session: Session, delivery_id: int, follow_up: list[int]) -> Claim | None:
        now = utcnow()
        delivery = session.get(Delivery, delivery_id)
        if delivery is None or delivery.status in DeliveryStatus.FINAL:
            return None
        if delivery.status == DeliveryStatus.IN_FLIGHT and delivery.lease_expires_at and delivery.lease_expires_at > now:
            return None  # another worker holds it
        if delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at > now + timedelta(seconds=1):
            return None  # not due; its delayed message or the sweeper will bring it back
        if self._earlier_unfinished(session, delivery):
            return None  # waits its turn; the earlier one announces it when it finishes
        newer = session.scalar(
            select(func.min(Delivery.id)).where(
                Delivery.destination == delivery.destination, Delivery.resource_type == delivery.resource_type,
                Delivery.resource_id == delivery.resource_id, Delivery.id > delivery.id,
                Delivery.status == DeliveryStatus.PENDING))
        if newer is not None:
            # A newer version is waiting: send that one, never an older one after it.
            delivery.status = DeliveryStatus.SUPERSEDED
            self._log(session, delivery, None, ATTEMPT_SUPERSEDED, f"superseded by delivery {newer}")
            follow_up.append(newer)
            return None
        version = session.get(ResourceVersion, (delivery.resource_type, delivery.resource_id, delivery.resource_version))
        if version is None or version.content is None:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "resource version is not in the repository (deleted)"
            self._log(session, delivery, None, ATTEMPT_PARKED, delivery.last_error)
            return None
        # Atomic claim: only one worker wins even if two got the same queue message.
        claimed = session.execute(
            update(Delivery).where(Delivery.id == delivery.id, Delivery.status == delivery.status,
                                   Delivery.attempts == delivery.attempts)
            .values(status=DeliveryStatus.IN_FLIGHT, attempts=Delivery.attempts + 1,
                    lease_expires_at=now + self.lease, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            return None
        resource = json.loads(version.content)
        remote_id = self._remote_id(session, delivery.destination, delivery.resource_type, delivery.resource_id)
        destination = delivery.destination

        def remote_id_of(reference: str) -> str | None:
            resource_type, _, local_id = reference.partition("/")
            with self.database.read() as lookup:
                return self._remote_id(lookup, destination, resource_type, local_id)

        item = DeliveryItem(delivery.id, resource, remote_id, remote_id_of, f"carebridge-delivery-{delivery.id}")
        return Claim(delivery.id, delivery.attempts + 1, destination, item)

    @staticmethod
    def _earlier_unfinished(session: Session, delivery: Delivery) -> bool:
        return session.scalar(
            select(Delivery.id).where(
                Delivery.destination == delivery.destination, Delivery.order_key == delivery.order_key,
                Delivery.id < delivery.id,
                Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT))).limit(1)) is not None

    @staticmethod
    def _remote_id(session: Session, destination: str, resource_type: str, local_id: str) -> str | None:
        xref = session.get(CrossReference, (destination, resource_type, local_id))
        return xref.remote_id if xref else None

    # Recording -------------------------------------------------------------------------

    def _record(self, session: Session, claim: Claim, outcome: Outcome, follow_up: list[int]) -> float | None:
        """Write the attempt's result; returns a retry delay in seconds when the delivery is to be tried again."""
        now = utcnow()
        delivery = session.get(Delivery, claim.delivery_id)
        if delivery.status != DeliveryStatus.IN_FLIGHT or delivery.attempts != claim.attempt:
            # Our lease ran out and another worker took over; its result stands. Keep the attempt on record.
            self._log(session, delivery, outcome, ATTEMPT_FAILED, "result discarded: lease expired during the attempt")
            return None
        delivery.lease_expires_at = None
        if isinstance(outcome, Delivered):
            delivery.status, delivery.remote_id, delivery.last_error = DeliveryStatus.DELIVERED, outcome.remote_id, None
            if outcome.remote_id:
                self._remember(session, delivery, outcome.remote_id, now)
            self._log(session, delivery, outcome, ATTEMPT_SUCCEEDED, outcome.detail or f"remote id {outcome.remote_id}")
            self._follow(session, delivery, follow_up)
            return None
        reason = outcome.reason if not isinstance(outcome, NeedsDependency) else \
            f"waiting for {outcome.reference} to be delivered first"
        delivery.last_error = reason[:MAX_DETAIL]
        policy = self.policies.get(delivery.destination, RetryPolicy())
        if isinstance(outcome, Rejected) or policy.exhausted(delivery.attempts, delivery.created_at, now):
            if not isinstance(outcome, Rejected):
                delivery.last_error = f"gave up after {delivery.attempts} attempts: {reason}"[:MAX_DETAIL]
            delivery.status = DeliveryStatus.FAILED
            self._log(session, delivery, outcome, ATTEMPT_PARKED, delivery.last_error)
            self._follow(session, delivery, follow_up)
            return None
        delay = policy.delay(delivery.attempts, getattr(outcome, "retry_after", None))
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.enqueued_at = now
        self._log(session, delivery, outcome, ATTEMPT_FAILED, f"{reason}; next attempt in {delay:.1f}s")
        return delay

    @staticmethod
    def _remember(session: Session, delivery: Delivery, remote_id: str, now) -> None:
        key = (delivery.destination, delivery.resource_type, delivery.resource_id)
        xref = session.get(CrossReference, key)
        if xref is None:
            session.add(CrossReference(destination=key[0], resource_type=key[1], local_id=key[2],
                                       remote_id=remote_id, updated_at=now))
        else:
            xref.remote_id, xref.updated_at = remote_id, now

    @staticmethod
    def _follow(session: Session, delivery: Delivery, follow_up: list[int]) -> None:
        """Announce the next delivery of the same order key, now that this one is finished."""
        following = session.scalar(
            select(func.min(Delivery.id)).where(
                Delivery.destination == delivery.destination, Delivery.order_key == delivery.order_key,
                Delivery.id > delivery.id, Delivery.status == DeliveryStatus.PENDING))
        if following is not None:
            follow_up.append(following)

    def _log(self, session: Session, delivery: Delivery, outcome: Outcome | None, status: str, details: str) -> None:
        version = session.get(ResourceVersion, (delivery.resource_type, delivery.resource_id, delivery.resource_version))
        resource = json.loads(version.content) if version is not None and version.content else \
            {"resourceType": delivery.resource_type, "id": delivery.resource_id}
        reference = f"{delivery.resource_type}/{delivery.resource_id}"
        session.add(SyncLogEntry(
            delivery_id=delivery.id, destination=delivery.destination,
            patient_ref=patient_reference(resource), resource_ref=reference,
            document_ref=reference if delivery.resource_type == "DocumentReference" else None,
            action=delivery.origin, status=status, details=details[:MAX_DETAIL], created_at=utcnow(),
        ))

    def _announce(self, delivery_ids: list[int], delay: float | None = None) -> None:
        if not delivery_ids:
            return
        try:
            self.enqueue(delivery_ids, delay)
        except Exception:
            log.warning("queue unavailable; the sweeper will pick up %d deliveries", len(delivery_ids))
