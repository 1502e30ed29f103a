"""Finds the patient an operator names, by logical id or by identifier (``system|value`` or ``value``)."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.models import ResourceRecord
from engine.repository.resources import FhirRepository
from engine.routing.router import patient_reference
from foundation.errors import CarebridgeError

#: Resource types that belong to a patient and travel with them on a manual resync, in sending order.
PATIENT_RECORD_TYPES = ("Appointment", "DocumentReference", "Invoice")


class PatientNotFound(CarebridgeError, LookupError):
    """No current patient has that id or identifier (the message never repeats the identifier)."""


class AmbiguousPatient(CarebridgeError, LookupError):
    """More than one current patient has that identifier."""


def resolve_patient(session: Session, repository: FhirRepository, name: str) -> str:
    """The logical id of the patient named by ``name``; raise PatientNotFound or AmbiguousPatient."""
    name = name.removeprefix("Patient/")
    record = session.get(ResourceRecord, ("Patient", name))
    if record is not None and not record.deleted:
        return name
    found = repository.ids_with_token(session, "Patient", "identifier", name)
    if not found:
        raise PatientNotFound("no current patient has that id or identifier")
    if len(found) > 1:
        raise AmbiguousPatient(f"{len(found)} patients have that identifier; name one by its id")
    return found[0]


def patient_records(session: Session, patient_id: str) -> list[dict]:
    """The patient's current appointments, documents and invoices, in sending order."""
    reference = f"Patient/{patient_id}"
    found: list[dict] = []
    for resource_type in PATIENT_RECORD_TYPES:
        # A text match narrows the rows; the reference check decides, so a mention elsewhere does not count.
        rows = session.scalars(select(ResourceRecord).where(
            ResourceRecord.resource_type == resource_type, ResourceRecord.deleted.is_(False),
            ResourceRecord.content.contains(f'"{reference}"')).order_by(ResourceRecord.last_updated))
        found += [resource for row in rows if patient_reference(resource := json.loads(row.content)) == reference]
    return found
