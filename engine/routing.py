"""Routing: which destinations each written resource goes to, recorded as outbox rows.

The rows commit in the same transaction as the resource version they deliver; the queue
hears of them only after that commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy.orm import Session

from engine.config import RouteConfig
from engine.models import Delivery, DeliveryStatus, utcnow
from engine.repository import WriteOutcome

#: Elements whose reference names the patient a resource belongs to, in order of preference.
PATIENT_REFERENCE_PATHS = ("subject", "patient", "beneficiary")


def patient_reference(resource: dict[str, Any]) -> str | None:
    """``Patient/<id>`` of the patient a resource is about, or ``None``."""
    if resource.get("resourceType") == "Patient" and resource.get("id"):
        return f"Patient/{resource['id']}"
    for path in PATIENT_REFERENCE_PATHS:
        reference = (resource.get(path) or {}).get("reference") if isinstance(resource.get(path), dict) else None
        if isinstance(reference, str) and reference.startswith("Patient/"):
            return reference
    for participant in resource.get("participant") or []:
        reference = (participant.get("actor") or {}).get("reference", "")
        if reference.startswith("Patient/"):
            return reference
    return None


def order_key(resource: dict[str, Any]) -> str:
    """Deliveries with the same key go one at a time in order: a patient's records share one."""
    return patient_reference(resource) or f"{resource['resourceType']}/{resource['id']}"


@dataclass(frozen=True)
class Source:
    """Where a write came from, for route matching."""

    channel: str | None = None
    message_type: str | None = None


class Router:
    """Matches written resources against the configured routes."""

    def __init__(self, routes: Iterable[RouteConfig], active_destinations: set[str]):
        self.routes = [r for r in routes if r.enabled]
        self.active_destinations = active_destinations

    def destinations_for(self, resource: dict[str, Any], source: Source) -> list[str]:
        chosen: list[str] = []
        for route in self.routes:
            match = route.match
            if match.get("resource_types") and resource["resourceType"] not in match["resource_types"]:
                continue
            if match.get("channels") and source.channel not in match["channels"]:
                continue
            if match.get("message_types") and source.message_type not in match["message_types"]:
                continue
            chosen += [d for d in route.destinations if d in self.active_destinations and d not in chosen]
        return chosen

    def plan(self, session: Session, outcomes: Iterable[WriteOutcome], source: Source,
             origin: str = "automatic") -> list[Delivery]:
        """Add outbox rows for every changed resource; returns them (ids assigned on flush)."""
        deliveries = []
        now = utcnow()
        for outcome in outcomes:
            if not outcome.changed:
                continue
            for destination in self.destinations_for(outcome.resource, source):
                deliveries.append(Delivery(
                    destination=destination, resource_type=outcome.resource_type, resource_id=outcome.id,
                    resource_version=outcome.version_id, order_key=order_key(outcome.resource), origin=origin,
                    status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, enqueued_at=now,
                    created_at=now, updated_at=now,
                ))
        session.add_all(deliveries)
        session.flush()
        return deliveries
