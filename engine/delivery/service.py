"""Carries out one delivery: claim it, keep order, call the destination, record the outcome.

The database is the source of truth. A worker claims a delivery with a short lease, renewed
while the attempt runs (:mod:`engine.delivery.lease`); if the worker dies the lease runs out
and the sweeper hands the delivery to another. The destination is
called outside any transaction; what it answered is then recorded with the attempt's
sync-log row, and the next delivery in the same order (and any delivery that was waiting
for this one) is announced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.db.database import Database
from engine.db.models import (
    CrossReference,
    Delivery,
    DeliveryStatus,
    ResourceRecord,
    ResourceVersion,
    SyncLogEntry,
    utcnow,
)
from engine.delivery import sync_log
from engine.delivery.breaker import CircuitBreaker
from engine.delivery.dependencies import Park, Ready, RouteOf, Wait, ensure_dependency, release_waiters
from engine.delivery.lease import LeaseKeeper
from engine.delivery.destination import (
    Delivered,
    DeliveryItem,
    Destination,
    NeedsDependency,
    Outcome,
    Rejected,
    RetryLater,
    Skipped,
    Throttled,
)
from engine.delivery.retry_policy import RetryPolicy
from engine.delivery.sync_log import MAX_DETAIL
from engine.routing.outbox import announce
from foundation import decimal_json

log = logging.getLogger(__name__)

#: Statuses a newer delivery of the same resource may have for an older one to be superseded.
NEWER_COUNTS = (DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED,
                DeliveryStatus.SKIPPED)

#: Ends the sync-log row of an attempt retried when the destination asked (``Retry-After``): such
#: attempts do not grow the backoff of the passing faults (see :meth:`DeliveryService._passing_faults`).
AS_ASKED = "(as the destination asked)"

#: A route's transform: (route name or None, resource) -> the resource as the destination should see it.
Transform = Callable[[str | None, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int
    #: Operator retries before this claim: attempts are numbered anew in each round.
    round: int
    destination: str
    item: DeliveryItem


class DeliveryService:
    """Runs deliveries against the configured destinations.

    Example::

        service = DeliveryService(db, {"carepatron": carepatron}, {"carepatron": RetryPolicy()}, queue.enqueue)
        service.run(42)
    """

    def __init__(self, database: Database, destinations: dict[str, Destination], policies: dict[str, RetryPolicy],
                 enqueue: Callable[..., None], lease_seconds: float = 15.0,
                 breaker: CircuitBreaker | None = None, transform: Transform | None = None,
                 route_of: RouteOf | None = None):
        self.database = database
        self.destinations = destinations
        self.policies = policies
        self.enqueue = enqueue
        self.lease = timedelta(seconds=lease_seconds)
        self.leases = LeaseKeeper(database, lease_seconds)
        self.breaker = breaker
        self.transform = transform
        #: The route a dependency delivered first goes by (see :func:`engine.delivery.dependencies.ensure_dependency`).
        self.route_of = route_of

    # The one entry point ---------------------------------------------------------------

    def run(self, delivery_id: int) -> None:
        """Attempt a delivery if it is due, unblocked and not held by another worker."""
        follow_up: list[int] = []
        later: list[tuple[int, float]] = []
        with self.database.write() as session:
            claim = self._claim(session, delivery_id, follow_up, later)
        self._announce(follow_up)
        for deferred_id, delay in later:
            self._announce([deferred_id], delay)
        if claim is None:
            return
        destination = self.destinations.get(claim.destination)
        self.leases.hold(claim.delivery_id, claim.attempt)
        try:
            outcome = destination.deliver(claim.item) if destination else Rejected(
                f"destination {claim.destination!r} is not configured or not active")
        except Exception as exc:  # a connector bug: retry like a passing fault, with the type only
            log.exception("destination %s raised on delivery %s", claim.destination, claim.delivery_id)
            outcome = RetryLater(f"connector error: {type(exc).__name__}")
        finally:
            self.leases.release(claim.delivery_id)
        self._tell_breaker(claim.destination, outcome)
        with self.database.write() as session:
            delay = self._record(session, claim, outcome, follow_up)
        if delay is not None:
            self._announce([claim.delivery_id], delay)
        self._announce(follow_up)

    def _tell_breaker(self, destination: str, outcome: Outcome | None) -> None:
        if self.breaker is None:
            return
        try:
            # A rate limit (it says when to come back) is the destination working as agreed, not failing.
            if isinstance(outcome, RetryLater) and outcome.retry_after is None:
                self.breaker.failed(destination)
            elif isinstance(outcome, (Delivered, Rejected)):
                self.breaker.succeeded(destination)
            else:  # no verdict on the destination's health (a dependency first, a rate limit, nothing to do)
                self.breaker.released(destination)
        except Exception:
            log.warning("circuit breaker state unavailable for %s", destination)

    # Claiming --------------------------------------------------------------------------

    def _claim(self, session: Session, delivery_id: int, follow_up: list[int],
               later: list[tuple[int, float]] | None = None) -> Claim | None:
        now = utcnow()
        later = later if later is not None else []
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
                Delivery.status.in_(NEWER_COUNTS)))
        if newer is not None:
            # A newer version is waiting or already sent: never send an older one after it.
            if not self._take(session, delivery, status=DeliveryStatus.SUPERSEDED, lease_expires_at=None,
                              updated_at=now):
                return None  # another worker moved it on first
            self._account_for_lost_attempt(session, delivery)
            delivery.status, delivery.lease_expires_at = DeliveryStatus.SUPERSEDED, None
            sync_log.record(session, delivery, sync_log.SUPERSEDED, f"superseded by delivery {newer}")
            follow_up.append(newer)
            self._finished(session, delivery, follow_up, now)
            return None
        version = session.get(ResourceVersion, (delivery.resource_type, delivery.resource_id, delivery.resource_version))
        resource, deleted = self._content(session, delivery, version)
        if resource is None:
            delivery.status = DeliveryStatus.SKIPPED
            delivery.last_error = "the resource version is not in the repository and there is nothing to send"
            sync_log.record(session, delivery, sync_log.SKIPPED, delivery.last_error)
            self._finished(session, delivery, follow_up, now)
            return None
        # Asked last, once the destination will be called: a half-open breaker's probe slot is taken here.
        pause = self._breaker_pause(delivery.destination)
        if pause is not None:
            # The destination is paused: come back when the breaker allows, without spending an attempt.
            delivery.next_attempt_at, delivery.enqueued_at = now + timedelta(seconds=pause), now
            later.append((delivery.id, pause))
            return None
        # Atomic claim: only one worker wins even if two got the same queue message.
        if not self._take(session, delivery, status=DeliveryStatus.IN_FLIGHT, attempts=Delivery.attempts + 1,
                          waiting_for=None, lease_expires_at=now + self.lease, updated_at=now):
            self._tell_breaker(delivery.destination, None)  # another worker won the claim: free a probe slot
            return None
        # Only the winner accounts for a lost attempt: a loser's row would log that attempt twice.
        self._account_for_lost_attempt(session, delivery)
        if self.transform is not None:
            resource = self.transform(delivery.route, resource)
        item = DeliveryItem(
            delivery.id, resource, self._remote_id(session, delivery.destination, delivery.resource_type,
                                                   delivery.resource_id),
            self._lookup_remote(delivery.destination), self._idempotency_key(delivery), deleted=deleted,
            resource_of=self._lookup_resource, version=delivery.resource_version, attempt=delivery.attempts + 1)
        return Claim(delivery.id, delivery.attempts + 1, delivery.operator_retries or 0, delivery.destination, item)

    def _breaker_pause(self, destination: str) -> float | None:
        if self.breaker is None:
            return None
        try:
            return self.breaker.check(destination)
        except Exception:  # Redis away: deliver rather than stall; the retry policy still bounds the damage
            log.warning("circuit breaker state unavailable for %s", destination)
            return None

    @staticmethod
    def _content(session: Session, delivery: Delivery,
                 version: ResourceVersion | None) -> tuple[dict[str, Any] | None, bool]:
        """The resource to send, and whether this delivery carries its deletion.

        A delete has no content; the destination gets the last version that had some, marked deleted.
        """
        if version is not None and version.content is not None:
            return decimal_json.loads(version.content), False
        previous = session.scalar(
            select(ResourceVersion).where(
                ResourceVersion.resource_type == delivery.resource_type, ResourceVersion.id == delivery.resource_id,
                ResourceVersion.version_id < delivery.resource_version, ResourceVersion.content.is_not(None))
            .order_by(ResourceVersion.version_id.desc()).limit(1))
        return (decimal_json.loads(previous.content), True) if previous is not None else (None, True)

    @staticmethod
    def _idempotency_key(delivery: Delivery) -> str:
        key = f"carebridge-delivery-{delivery.id}"
        # An operator's retry follows a fix; replaying the first (failed) answer would defeat it.
        return f"{key}-retry-{delivery.operator_retries}" if delivery.operator_retries else key

    def _lookup_remote(self, destination: str) -> Callable[[str], str | None]:
        def remote_id_of(reference: str) -> str | None:
            resource_type, _, local_id = reference.partition("/")
            with self.database.read() as lookup:
                return self._remote_id(lookup, destination, resource_type, local_id)

        return remote_id_of

    def _lookup_resource(self, reference: str) -> dict[str, Any] | None:
        resource_type, _, local_id = reference.partition("/")
        with self.database.read() as lookup:
            record = lookup.get(ResourceRecord, (resource_type, local_id))
            return decimal_json.loads(record.content) if record is not None and record.content else None

    @staticmethod
    def _take(session: Session, delivery: Delivery, **values) -> bool:
        """Move ``delivery`` on from the state this worker read, unless another worker did first.

        The UPDATE holds the delivery's row lock until commit, so what the winner logs next is
        settled before a late result of the same attempt reads the row (see :meth:`_record`).
        ``delivery`` keeps the values read before, which the caller's logging needs.
        """
        return session.execute(
            update(Delivery).where(Delivery.id == delivery.id, Delivery.status == delivery.status,
                                   Delivery.attempts == delivery.attempts)
            .values(**values).execution_options(synchronize_session=False)
        ).rowcount == 1

    @staticmethod
    def _account_for_lost_attempt(session: Session, delivery: Delivery) -> None:
        """A claim whose lease ran out without a result: its worker died or hung. Log that attempt once."""
        if delivery.status == DeliveryStatus.IN_FLIGHT and not sync_log.attempt_logged(session, delivery.id,
                                                                                       delivery.attempts):
            sync_log.record(session, delivery, sync_log.FAILED,
                            "no result: the worker went away or took longer than its lease", attempt=delivery.attempts)

    @staticmethod
    def _earlier_unfinished(session: Session, delivery: Delivery) -> bool:
        # A delivery waiting for a dependency does not hold up the rest of its order key: the
        # dependency may itself be queued behind it.
        return session.scalar(
            select(Delivery.id).where(
                Delivery.destination == delivery.destination, Delivery.order_key == delivery.order_key,
                Delivery.id < delivery.id, Delivery.waiting_for.is_(None),
                Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT))).limit(1)) is not None

    @staticmethod
    def _remote_id(session: Session, destination: str, resource_type: str, local_id: str) -> str | None:
        xref = session.get(CrossReference, (destination, resource_type, local_id))
        return xref.remote_id if xref else None

    # Recording -------------------------------------------------------------------------

    def _record(self, session: Session, claim: Claim, outcome: Outcome, follow_up: list[int]) -> float | None:
        """Write the attempt's result; returns a retry delay in seconds when the delivery is to be tried again."""
        now = utcnow()
        # Locked: a worker taking the delivery over after our lease ran out logs this attempt as
        # lost in the same transaction as its claim; waiting for it means we see that row.
        delivery = session.get(Delivery, claim.delivery_id, with_for_update=True, populate_existing=True)
        if (delivery.status != DeliveryStatus.IN_FLIGHT or delivery.attempts != claim.attempt
                or (delivery.operator_retries or 0) != claim.round):
            # Our lease ran out and another worker took over; its result stands. Keep the attempt on record once
            # (an attempt of an earlier round is on record already: the delivery was parked after it).
            if (delivery.operator_retries or 0) == claim.round and not sync_log.attempt_logged(
                    session, delivery.id, claim.attempt):
                sync_log.record(session, delivery, sync_log.FAILED,
                                f"result discarded, the lease ran out during the attempt: {_describe(outcome)}",
                                attempt=claim.attempt)
            return None
        delivery.lease_expires_at = None
        if isinstance(outcome, Delivered):
            delivery.status, delivery.remote_id, delivery.last_error = DeliveryStatus.DELIVERED, outcome.remote_id, None
            if outcome.remote_id:
                self._remember(session, delivery, outcome.remote_id, now)
            sync_log.record(session, delivery, sync_log.SUCCEEDED, outcome.detail or f"remote id {outcome.remote_id}",
                            attempt=claim.attempt)
            self._finished(session, delivery, follow_up, now)
            return None
        if isinstance(outcome, Skipped):
            delivery.status, delivery.last_error = DeliveryStatus.SKIPPED, outcome.reason[:MAX_DETAIL]
            sync_log.record(session, delivery, sync_log.SKIPPED, outcome.reason, attempt=claim.attempt)
            self._finished(session, delivery, follow_up, now)
            return None
        if isinstance(outcome, NeedsDependency):
            return self._wait_for(session, delivery, claim, outcome, follow_up, now)
        if isinstance(outcome, Throttled):
            return self._throttled(session, delivery, outcome, now)
        return self._failed(session, delivery, claim, outcome, follow_up, now)

    def _failed(self, session: Session, delivery: Delivery, claim: Claim, outcome: RetryLater | Rejected,
                follow_up: list[int], now) -> float | None:
        reason = outcome.reason
        delivery.last_error = reason[:MAX_DETAIL]
        policy = self.policies.get(delivery.destination, RetryPolicy())
        if isinstance(outcome, Rejected) or policy.exhausted(delivery.attempts, delivery.created_at, now):
            if not isinstance(outcome, Rejected):
                delivery.last_error = f"gave up after {delivery.attempts} attempts: {reason}"[:MAX_DETAIL]
            self._park(session, delivery, delivery.last_error, claim.attempt, follow_up, now)
            return None
        retry_after = getattr(outcome, "retry_after", None)
        delay = policy.next_delay(self._passing_faults(session, delivery, retry_after), retry_after)
        delivery.status = DeliveryStatus.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.enqueued_at = now
        asked = f" {AS_ASKED}" if retry_after is not None else ""
        sync_log.record(session, delivery, sync_log.FAILED, f"{reason}; next attempt in {delay:.1f}s{asked}",
                        attempt=claim.attempt)
        return delay

    @staticmethod
    def _passing_faults(session: Session, delivery: Delivery, retry_after: float | None) -> int:
        """Failed attempts that count towards the backoff: those the destination said when to repeat
        (a 429's ``Retry-After``) were paced, not failing, and do not make the next wait longer."""
        if retry_after is not None:
            return delivery.attempts
        paced = session.scalar(select(func.count()).select_from(SyncLogEntry).where(
            SyncLogEntry.delivery_id == delivery.id, SyncLogEntry.status == sync_log.FAILED,
            SyncLogEntry.attempt.is_not(None), SyncLogEntry.details.like(f"%{AS_ASKED}")))
        return max(delivery.attempts - (paced or 0), 1)

    @staticmethod
    def _throttled(session: Session, delivery: Delivery, outcome: Throttled, now) -> float:
        """The engine's own rate limit held the request back: wait for a slot, without spending an attempt.

        Like a breaker pause, this is the engine pacing itself, not the destination failing; a
        backlog larger than the budget must not use up deliveries' attempts. Look-ups already
        sent get a row of their own, outside the attempt count, so every request is on record.
        """
        delivery.attempts -= 1
        if outcome.sent:
            sync_log.record(session, delivery, sync_log.THROTTLED,
                            f"{outcome.reason} after {', '.join(outcome.sent)}; not counted as an attempt, "
                            f"next try in {outcome.retry_after:.1f}s")
        delivery.status, delivery.last_error = DeliveryStatus.PENDING, outcome.reason[:MAX_DETAIL]
        delivery.next_attempt_at = now + timedelta(seconds=outcome.retry_after)
        delivery.enqueued_at = now
        return outcome.retry_after

    def _wait_for(self, session: Session, delivery: Delivery, claim: Claim, outcome: NeedsDependency,
                  follow_up: list[int], now) -> float | None:
        """Deliver the dependency first; this delivery waits for it and is announced when it finishes."""
        decision = ensure_dependency(session, delivery, outcome.reference, self.route_of)
        if isinstance(decision, Wait) and not decision.created:
            decision = self._still_unfinished(session, decision)
        if isinstance(decision, Park):
            delivery.last_error = decision.reason[:MAX_DETAIL]
            self._park(session, delivery, delivery.last_error, claim.attempt, follow_up, now)
            return None
        delivery.status = DeliveryStatus.PENDING
        delivery.enqueued_at = now
        if isinstance(decision, Ready):
            delivery.next_attempt_at = now
            sync_log.record(session, delivery, sync_log.WAITING, f"{outcome.reference} arrived meanwhile; trying again",
                            attempt=claim.attempt)
            return 0.0
        assert isinstance(decision, Wait)
        delivery.waiting_for = decision.delivery_id
        # A safety net only: the dependency announces this delivery when it finishes.
        delivery.next_attempt_at = now + timedelta(seconds=self.policies.get(
            delivery.destination, RetryPolicy()).max_backoff_seconds)
        delivery.last_error = f"waiting for {outcome.reference} (delivery {decision.delivery_id}) to be delivered first"
        sync_log.record(session, delivery, sync_log.WAITING, delivery.last_error, attempt=claim.attempt)
        if decision.created:
            follow_up.append(decision.delivery_id)
        self._follow(session, delivery, follow_up)
        return None

    @staticmethod
    def _still_unfinished(session: Session, decision: Wait) -> Wait | Ready:
        """Whether the dependency is still on its way, read under its row lock.

        The dependency's worker releases its waiters in the transaction that records its result,
        holding this lock: a dependency that finished after :func:`ensure_dependency` read it
        would never see this delivery waiting, which would then sit until the sweeper's safety
        net. Locked, either it finished first (seen here: try again now) or it sees us waiting.
        """
        dependency = session.get(Delivery, decision.delivery_id, with_for_update=True, populate_existing=True)
        if dependency is None or dependency.status in DeliveryStatus.FINAL:
            return Ready()
        return decision

    def _park(self, session: Session, delivery: Delivery, reason: str, attempt: int, follow_up: list[int],
              now) -> None:
        delivery.status = DeliveryStatus.FAILED
        sync_log.record(session, delivery, sync_log.PARKED, reason, attempt=attempt)
        self._finished(session, delivery, follow_up, now)

    def _finished(self, session: Session, delivery: Delivery, follow_up: list[int], now) -> None:
        self._follow(session, delivery, follow_up)
        follow_up.extend(release_waiters(session, delivery, now))

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
        """Announce the next delivery of the same order key, now that this one is out of the way."""
        following = session.scalar(
            select(func.min(Delivery.id)).where(
                Delivery.destination == delivery.destination, Delivery.order_key == delivery.order_key,
                Delivery.id > delivery.id, Delivery.status == DeliveryStatus.PENDING,
                Delivery.waiting_for.is_(None)))
        if following is not None:
            follow_up.append(following)

    def _announce(self, delivery_ids: list[int], delay: float | None = None) -> None:
        announce(self.enqueue, delivery_ids, delay)


def _describe(outcome: Outcome) -> str:
    if isinstance(outcome, Delivered):
        return f"delivered as {outcome.remote_id}"
    if isinstance(outcome, NeedsDependency):
        return f"needed {outcome.reference}"
    return outcome.reason
