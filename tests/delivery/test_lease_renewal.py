"""Short leases, renewed while the worker lives: a slow call keeps its delivery, and a lease
another worker took over is not extended by the worker that lost it."""

from __future__ import annotations

from datetime import timedelta

import fhir_records as fr
from test_carepatron_kinds import settle

from engine.db.models import Delivery, DeliveryStatus, utcnow
from engine.delivery.lease import LeaseKeeper


def in_flight(database, attempts: int = 1, expires_in: float = 1.0) -> int:
    now = utcnow()
    with database.write() as session:
        delivery = Delivery(destination="carepatron", resource_type="Patient", resource_id="p-1", resource_version=1,
                            order_key="Patient/p-1", status=DeliveryStatus.IN_FLIGHT, attempts=attempts,
                            next_attempt_at=now, lease_expires_at=now + timedelta(seconds=expires_in),
                            created_at=now, updated_at=now)
        session.add(delivery)
        session.flush()
        return delivery.id


def lease_of(database, delivery_id: int):
    with database.read() as session:
        return session.get(Delivery, delivery_id).lease_expires_at


def test_a_held_lease_is_renewed_to_a_full_lease(database):
    delivery_id = in_flight(database, expires_in=1)
    keeper = LeaseKeeper(database, lease_seconds=15)
    keeper.hold(delivery_id, attempts=1)
    assert keeper.renew_once() == 1
    assert lease_of(database, delivery_id) > utcnow() + timedelta(seconds=14)
    keeper.release(delivery_id)
    assert keeper.renew_once() == 0


def test_a_lease_taken_over_by_another_worker_is_not_renewed(database):
    delivery_id = in_flight(database, attempts=2)        # another worker claimed it again: attempt 2
    keeper = LeaseKeeper(database, lease_seconds=15)
    keeper.hold(delivery_id, attempts=1)
    assert keeper.renew_once() == 0
    keeper.release(delivery_id)


def test_a_call_longer_than_the_lease_keeps_its_delivery(make_runtime, simulator):
    # A 1 s lease renewed every third of a second; Carepatron takes 3 s to answer the POST.
    runtime = make_runtime(workers=4, CAREBRIDGE_DELIVERY_LEASE_SECONDS="1", CAREBRIDGE_SWEEP_INTERVAL_SECONDS="0.2")
    runtime.sweeper.start()
    simulator.faults.latency(3000, method="POST", path="/clients", count=1)
    _, ids = fr.write(runtime, fr.patient("L-1"))
    [done] = settle(runtime, ids)
    assert (done.status, done.attempts) == ("delivered", 1)          # the sweeper never took it away
    assert len([c for c in simulator.requests() if c["method"] == "POST"]) == 1
