"""Writes the synchronisation log: one row per delivery attempt, supersession or operator action.

Rows name the patient and the resource by reference only (``Patient/123``), never by content,
so the log can be shown to an operator without exposing patient data.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.db.models import Delivery, ResourceVersion, SyncAction, SyncLogEntry, utcnow
from engine.routing.router import patient_reference
from foundation import decimal_json

#: Longest reason kept on a delivery or sync-log row.
MAX_DETAIL = 2000

#: Statuses of sync-log rows. The first five account for attempts (a row per attempt number).
SUCCEEDED, FAILED, PARKED, WAITING, SKIPPED = "success", "failed", "parked", "waiting", "skipped"
#: A newer version replaced the delivery before it was attempted (no attempt was made).
SUPERSEDED = "superseded"
#: The engine's own rate limit held a delivery back after some look-ups were sent (not an attempt).
THROTTLED = "throttled"
#: An operator asked for something (a retry, a resync); the details say what.
REQUESTED = "requested"


def _patient_of(session: Session, delivery: Delivery) -> str | None:
    if delivery.resource_type == "Patient":
        return f"Patient/{delivery.resource_id}"
    # A delete has no content: the patient is named by the last version that had some.
    version = session.scalar(
        select(ResourceVersion).where(
            ResourceVersion.resource_type == delivery.resource_type, ResourceVersion.id == delivery.resource_id,
            ResourceVersion.version_id <= delivery.resource_version, ResourceVersion.content.is_not(None))
        .order_by(ResourceVersion.version_id.desc()).limit(1))
    return patient_reference(decimal_json.loads(version.content)) if version is not None else None


def record(session: Session, delivery: Delivery, status: str, details: str, *, attempt: int | None = None,
           action: str | None = None) -> None:
    """Add one row about ``delivery``; ``action`` defaults to the delivery's origin."""
    reference = f"{delivery.resource_type}/{delivery.resource_id}"
    session.add(SyncLogEntry(
        delivery_id=delivery.id, destination=delivery.destination, patient_ref=_patient_of(session, delivery),
        resource_ref=reference, document_ref=reference if delivery.resource_type == "DocumentReference" else None,
        action=action or delivery.origin, status=status, details=details[:MAX_DETAIL], attempt=attempt,
        created_at=utcnow(),
    ))


def attempt_logged(session: Session, delivery_id: int, attempt: int) -> bool:
    """Whether a row of the current round already accounts for this attempt (a lease that ran out is logged once).

    An operator's retry starts a new round numbered from attempt 1 again (see
    :mod:`engine.operations.dead_letters`); the rows before its request row belong to earlier rounds.
    """
    query = select(SyncLogEntry.id).where(SyncLogEntry.delivery_id == delivery_id, SyncLogEntry.attempt == attempt)
    round_start = session.scalar(select(func.max(SyncLogEntry.id)).where(
        SyncLogEntry.delivery_id == delivery_id, SyncLogEntry.status == REQUESTED,
        SyncLogEntry.action == SyncAction.RETRY))
    if round_start is not None:
        query = query.where(SyncLogEntry.id > round_start)
    return session.scalar(query.limit(1)) is not None
