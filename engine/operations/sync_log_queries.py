"""Reads the synchronisation log for an operator: a patient's rows, newest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from engine.db.database import Database
from engine.db.models import SyncLogEntry
from engine.operations.patient_lookup import resolve_patient
from engine.repository.resources import FhirRepository

#: Most rows one query returns.
DEFAULT_LIMIT = 200


def row(entry: SyncLogEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "time": entry.created_at.isoformat(), "patient": entry.patient_ref,
        "resource": entry.resource_ref, "destination": entry.destination, "delivery": entry.delivery_id,
        "attempt": entry.attempt, "action": entry.action, "status": entry.status, "details": entry.details,
    }


def patient_log(database: Database, repository: FhirRepository, patient: str, destination: str | None = None,
                limit: int = DEFAULT_LIMIT) -> tuple[str, list[dict[str, Any]]]:
    """(patient id, rows) for the patient named by id or identifier; raises PatientNotFound."""
    with database.read() as session:
        try:
            patient_id = resolve_patient(session, repository, patient)
        except LookupError:
            # A deleted patient still has a log: accept its logical id as it stands in the rows.
            patient_id = patient.removeprefix("Patient/")
            if session.scalar(select(SyncLogEntry.id).where(
                    SyncLogEntry.patient_ref == f"Patient/{patient_id}").limit(1)) is None:
                raise
        reference = f"Patient/{patient_id}"
        query = select(SyncLogEntry).where(or_(SyncLogEntry.patient_ref == reference,
                                               SyncLogEntry.resource_ref == reference))
        if destination:
            query = query.where(SyncLogEntry.destination == destination)
        entries = session.scalars(query.order_by(SyncLogEntry.id.desc()).limit(limit))
        return patient_id, [row(entry) for entry in entries]
