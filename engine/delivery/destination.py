"""The one interface every destination kind (Carepatron, FHIR server, webhook, files) implements.

A destination is called with one resource version and answers with an outcome; it never
touches the database. The delivery service records outcomes, attempts and cross-references.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, Union


@dataclass(frozen=True)
class Delivered:
    """The destination holds this version; ``remote_id`` is its id there."""

    remote_id: str | None
    detail: str = ""


@dataclass(frozen=True)
class RetryLater:
    """A passing failure (5xx, time-out, rate limit): try again, not before ``retry_after`` seconds if given."""

    reason: str
    retry_after: float | None = None


@dataclass(frozen=True)
class Throttled:
    """The engine's own request budget for the destination (its rate limit) is used up: come back
    after ``retry_after`` seconds. Not an attempt: the destination was not asked to change anything.

    A connector answers this only before its one request that changes the destination (the
    look-ups and refused writes before it change nothing), so the delivery can simply wait.
    ``sent`` names the requests already made for it (``"GET clients"``), for the sync log.
    """

    reason: str
    retry_after: float
    sent: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejected:
    """A permanent failure (a 4xx the destination will repeat): park for an operator."""

    reason: str


@dataclass(frozen=True)
class NeedsDependency:
    """The destination must first hold another resource (a client before its appointment)."""

    reference: str  # e.g. "Patient/123"
    reason: str = ""


@dataclass(frozen=True)
class Skipped:
    """The destination has no way to carry out this change (a delete it cannot make); nothing was sent."""

    reason: str


Outcome = Union[Delivered, RetryLater, Throttled, Rejected, NeedsDependency, Skipped]


@dataclass(frozen=True)
class DeliveryItem:
    """One resource version to deliver, with what the destination needs to do it idempotently."""

    delivery_id: int
    resource: dict[str, Any]
    #: This resource's id at the destination, if the engine already knows it.
    remote_id: str | None
    #: The destination's id of another local resource (``"Patient/123"``), or ``None`` if not delivered yet.
    remote_id_of: Callable[[str], str | None]
    #: Stable per delivery, for the destination's ``Idempotency-Key``.
    idempotency_key: str
    #: The resource was deleted: ``resource`` is then its last version before the delete.
    deleted: bool = False
    #: The current content of another local resource (``"Binary/7"``), or ``None``.
    resource_of: Callable[[str], dict[str, Any] | None] = lambda reference: None
    #: The local version being delivered (0 when unknown).
    version: int = 0
    #: Which attempt of the delivery this is (1, 2, ...; 0 when unknown), the number its sync-log row carries.
    attempt: int = 0

    @property
    def reference(self) -> str:
        return f"{self.resource['resourceType']}/{self.resource['id']}"


class Throttle(Protocol):
    """A shared per-destination request budget (see :mod:`engine.delivery.rate_limit`)."""

    def wait(self) -> float | None:
        """Take one request slot, waiting briefly; ``None`` when taken, else seconds until one may free up."""


class Destination(Protocol):
    """A place resources are delivered to."""

    name: str

    def deliver(self, item: DeliveryItem) -> Outcome:
        """Send one resource version; never raises for an HTTP or network failure."""

    def ping(self) -> bool:
        """Whether the destination answers its health check."""
