"""The sweeper: re-queues deliveries that are due but whose queue message was lost, and
those whose worker died mid-attempt (its lease ran out). It is what makes the outbox safe
against a killed process or a broker that dropped a message.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Callable

from sqlalchemy import and_, or_, select, update

from engine.db.database import Database
from engine.db.models import Delivery, DeliveryStatus, utcnow
from foundation.periodic import Periodic

log = logging.getLogger(__name__)

#: Most deliveries re-queued per sweep.
SWEEP_BATCH = 500


class Sweeper:
    """Re-queues overdue deliveries every ``interval`` seconds.

    Example::

        sweeper = Sweeper(db, queue.enqueue, interval=5, requeue_after=60)
        sweeper.start(); ...; sweeper.stop()
    """

    def __init__(self, database: Database, enqueue: Callable[..., None], interval: float, requeue_after: float):
        self.database = database
        self.enqueue = enqueue
        self.interval = interval
        self.requeue_after = timedelta(seconds=requeue_after)
        self._timer = Periodic("carebridge-sweeper", interval, self.sweep_once)

    def sweep_once(self) -> list[int]:
        """Queue what is overdue now; returns the ids queued."""
        now = utcnow()
        stale = now - self.requeue_after
        overdue = or_(
            # Never queued, or queued long enough ago that the message must have been lost.
            and_(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now,
                 or_(Delivery.enqueued_at.is_(None),
                     and_(Delivery.enqueued_at <= stale, Delivery.next_attempt_at <= stale))),
            # The worker holding it went away.
            and_(Delivery.status == DeliveryStatus.IN_FLIGHT, Delivery.lease_expires_at <= now),
        )
        with self.database.write() as session:
            ids = list(session.scalars(select(Delivery.id).where(overdue).order_by(Delivery.id).limit(SWEEP_BATCH)))
            if ids:
                session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(enqueued_at=now)
                                .execution_options(synchronize_session=False))
        if ids:
            log.info("sweeper re-queued %d deliveries", len(ids))
            self.enqueue(ids)
        return ids

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
