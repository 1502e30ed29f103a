"""FHIR resources the delivery tests send, and the one way they write them: saved and routed
in one transaction, then queued, as the pipeline does."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

from engine.routing.router import Source

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def patient(mrn: str, family: str = "Testperson", given: str = "Ada") -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": mrn}],
            "name": [{"use": "official", "family": family, "given": [given]}], "gender": "female",
            "birthDate": "1980-02-14"}


def practitioner(family: str = "Carer", given: str = "Casey") -> dict:
    return {"resourceType": "Practitioner", "name": [{"family": family, "given": [given]}],
            "telecom": [{"system": "email", "value": "casey@example.org"}]}


def appointment(patient_id: str, practitioner_id: str | None = None, status: str = "booked", slot: int = 0) -> dict:
    start = START + timedelta(minutes=30 * slot)
    participants = [{"actor": {"reference": f"Patient/{patient_id}"}, "status": "accepted"}]
    if practitioner_id:
        participants.append({"actor": {"reference": f"Practitioner/{practitioner_id}"}, "status": "accepted"})
    return {"resourceType": "Appointment", "status": status, "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(), "participant": participants}


def text_document(patient_id: str, text: str = "Seen today; well.") -> dict:
    return {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
            "date": "2026-03-02T09:30:00Z", "description": "Progress note",
            "content": [{"attachment": {"contentType": "text/plain",
                                        "data": base64.b64encode(text.encode()).decode()}}]}


def binary(content: bytes, content_type: str = "application/pdf") -> dict:
    return {"resourceType": "Binary", "contentType": content_type, "data": base64.b64encode(content).decode()}


def binary_document(patient_id: str, *, binary_id: str | None = None, content: bytes | None = None,
                    title: str = "scan.pdf") -> dict:
    attachment = {"contentType": "application/pdf", "title": title}
    if binary_id:
        attachment["url"] = f"Binary/{binary_id}"
    else:
        attachment["data"] = base64.b64encode(content or b"%PDF-1.4 inline").decode()
    return {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient_id}"},
            "description": "Referral letter", "content": [{"attachment": attachment}]}


def invoice(patient_id: str, number: str, amount: float = 120.0, status: str = "issued") -> dict:
    return {"resourceType": "Invoice", "status": status, "subject": {"reference": f"Patient/{patient_id}"},
            "identifier": [{"value": number}], "date": "2026-03-02", "totalGross": {"value": amount, "currency": "AUD"},
            "lineItem": [{"sequence": 1, "chargeItemCodeableConcept": {"text": "Consultation",
                                                                        "coding": [{"code": "CONS"}]},
                          "priceComponent": [{"type": "base", "amount": {"value": amount, "currency": "AUD"}}]}]}


def write(runtime, resource: dict, resource_id: str | None = None, enqueue: bool = True,
          source: Source = Source("test", "ADT^A01")):
    """Save a resource and plan its deliveries; returns (write outcome, delivery ids)."""
    with runtime.database.write() as session:
        outcome = runtime.repository.save(session, resource, resource_id=resource_id)
        deliveries = runtime.router.plan(session, [outcome], source)
        ids = [d.id for d in deliveries]
    if enqueue and ids:
        runtime.queue.enqueue(ids)
    return outcome, ids


def delete(runtime, resource_type: str, resource_id: str, enqueue: bool = True):
    with runtime.database.write() as session:
        outcome = runtime.repository.delete(session, resource_type, resource_id)
        ids = [d.id for d in runtime.router.plan(session, [outcome], Source("test", "ADT^A23"))]
    if enqueue and ids:
        runtime.queue.enqueue(ids)
    return outcome, ids
