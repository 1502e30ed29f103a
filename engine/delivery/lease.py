"""Keeps the leases of a worker's deliveries in flight alive while the worker lives.

A lease is short so that a killed worker's deliveries are taken over soon (the sweeper finds the
lease run out); a heartbeat thread renews the leases of the attempts still running, so a slow
destination call is not mistaken for a dead worker.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from sqlalchemy import update

from engine.db.database import Database
from engine.db.models import Delivery, DeliveryStatus, utcnow

log = logging.getLogger(__name__)

#: Renewals per lease: a lease of 15 s is renewed every 5 s, so two heartbeats may be missed.
RENEWALS_PER_LEASE = 3


class LeaseKeeper:
    """Renews, every ``lease / RENEWALS_PER_LEASE`` seconds, the leases of the attempts it holds.

    Example::

        keeper = LeaseKeeper(db, lease_seconds=15)
        keeper.hold(42, attempts=3)      # after the claim committed
        ...call the destination...
        keeper.release(42)               # before the result is recorded
    """

    def __init__(self, database: Database, lease_seconds: float):
        self.database = database
        self.lease = timedelta(seconds=lease_seconds)
        self.interval = lease_seconds / RENEWALS_PER_LEASE
        self._held: dict[int, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def hold(self, delivery_id: int, attempts: int) -> None:
        """Keep renewing the lease of this claim (the delivery with this attempt count) until released."""
        with self._lock:
            self._held[delivery_id] = attempts
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._beat, name="carebridge-lease-heartbeat", daemon=True)
                self._thread.start()

    def release(self, delivery_id: int) -> None:
        with self._lock:
            self._held.pop(delivery_id, None)

    def renew_once(self) -> int:
        """Extend every held lease that is still this worker's; returns how many were renewed."""
        with self._lock:
            held = dict(self._held)
        renewed = 0
        if not held:
            return 0
        expires = utcnow() + self.lease
        with self.database.write() as session:
            for delivery_id, attempts in held.items():
                # Only the claim this worker made: a lease another worker took over is not extended.
                renewed += session.execute(
                    update(Delivery).where(Delivery.id == delivery_id, Delivery.attempts == attempts,
                                           Delivery.status == DeliveryStatus.IN_FLIGHT)
                    .values(lease_expires_at=expires).execution_options(synchronize_session=False)).rowcount
        return renewed

    def _beat(self) -> None:
        while True:
            with self._lock:
                if not self._held:
                    self._thread = None
                    return
                self._wake.wait(self.interval)
            try:
                self.renew_once()
            except Exception:  # the database briefly away: the next beat tries again, before the lease ends
                log.warning("could not renew delivery leases; trying again in %.1fs", self.interval)
