"""Manual resync: deliver a patient again, with their appointments,
documents and invoices, to one destination or to every destination their routes name.

Each record goes only where an enabled route would send it now (criteria on its content, and
on the channel and message type of the message that wrote it), through that route's transform.

It re-enters the line at routing: new outbox rows for the current versions, marked
``manual``. The destinations update what they already hold (through the cross-reference),
so a resync never duplicates a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.db.database import Database
from engine.db.models import Delivery, DeliveryStatus, SyncAction, utcnow
from engine.delivery import sync_log
from engine.operations.patient_lookup import patient_records, resolve_patient
from engine.repository.resources import FhirRepository
from engine.routing.router import Router, order_key
from foundation.errors import CarebridgeError


class UnknownDestination(CarebridgeError, LookupError):
    """The destination named is not configured or not active."""


@dataclass
class ResyncResult:
    patient_id: str
    delivery_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"patient": f"Patient/{self.patient_id}", "deliveries": self.delivery_ids}


def resync_patient(database: Database, repository: FhirRepository, router: Router, patient: str,
                   destination: str | None = None) -> ResyncResult:
    """Plan manual deliveries of a patient's records; the caller queues the returned ids."""
    if destination is not None and destination not in router.active_destinations:
        raise UnknownDestination(f"no active destination named {destination!r}")
    now = utcnow()
    with database.write() as session:
        patient_id = resolve_patient(session, repository, patient)
        result = ResyncResult(patient_id)
        for resource in [repository.current(session, "Patient", patient_id), *patient_records(session, patient_id)]:
            version = int(resource["meta"]["versionId"])
            # Only where a route sends this record now (criteria on content, channel, message type), with its transform.
            for route, target in router.routes_again(session, resource, version):
                if destination is not None and target != destination:
                    continue
                delivery = Delivery(
                    destination=target, resource_type=resource["resourceType"], resource_id=resource["id"],
                    resource_version=version, order_key=order_key(resource), origin=SyncAction.MANUAL,
                    route=route, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now,
                    enqueued_at=None, created_at=now, updated_at=now)
                session.add(delivery)
                session.flush()
                sync_log.record(session, delivery, sync_log.REQUESTED, "manual sync requested",
                                action=SyncAction.MANUAL)
                result.delivery_ids.append(delivery.id)
    return result
