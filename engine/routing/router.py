"""Routing: which destinations each written resource goes to, recorded as outbox rows.

The rows commit in the same transaction as the resource version they deliver; the queue
hears of them only after that commit. Routes are re-read from the engine configuration when
the file changes, so an integrator's edit takes effect without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.config.engine_config import RouteConfig
from engine.db.models import Delivery, DeliveryStatus, Message, ResourceVersion, utcnow
from engine.repository.resources import WriteOutcome
from engine.routing.rules import CompiledRoute
from foundation import decimal_json
from foundation.settled_edits import EditSettling, Stamp, file_stamp

log = logging.getLogger(__name__)

#: Elements whose reference names the patient a resource belongs to, in order of preference.
PATIENT_REFERENCE_PATHS = ("subject", "patient", "beneficiary")
#: How often the router looks at the configuration file for an edit (seconds).
RELOAD_CHECK_SECONDS = 1.0
#: The channel API writes are routed as (routes may match on it).
API_CHANNEL = "fhir-api"


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


def recorded_source(session: Session, resource_type: str, resource_id: str, version_id: int) -> Source:
    """Where a stored version came from, for routing it again (a resync, a dependency): the channel
    and message type of the message that wrote it; a version no message wrote came through the FHIR API."""
    version = session.get(ResourceVersion, (resource_type, resource_id, version_id))
    message = session.get(Message, version.message_id) if version is not None and version.message_id else None
    return Source(message.channel, message.message_type) if message is not None else Source(API_CHANNEL)


class Router:
    """Matches written resources against the configured routes.

    Example::

        router = Router(config.routes, {"carepatron"}, config_path=Path("config/engine.yaml"))
        router.plan(session, outcomes, Source("mllp", "ADT^A08"))
    """

    def __init__(self, routes: Iterable[RouteConfig], active_destinations: set[str],
                 config_path: Path | None = None, environ: dict[str, str] | None = None):
        self.active_destinations = active_destinations
        self._routes = [CompiledRoute.compile(r) for r in routes]
        self._config_path = config_path
        self._environ = environ
        self._stamp = self._file_stamp()
        self._settling = EditSettling()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    # Reloading -------------------------------------------------------------------------

    def _file_stamp(self) -> Stamp | None:
        return file_stamp(self._config_path) if self._config_path else None

    def reload_if_changed(self, force: bool = False) -> bool:
        """Re-read the routes when the configuration file changed and has stopped changing (see
        foundation/settled_edits.py; ``force``: at once, changed or not); a bad edit keeps the old routes."""
        if self._config_path is None or (not force and time.monotonic() - self._checked < RELOAD_CHECK_SECONDS):
            return False
        return self.check_file(force)

    def check_file(self, force: bool = False) -> bool:
        """:meth:`reload_if_changed` without the once-a-second limit, for the reloader's timer."""
        if self._config_path is None:
            return False
        # The time of the check is noted when it is over: a thread that arrives during a reload
        # waits for it on the lock rather than going on with the routes being replaced.
        with self._lock:
            try:
                return self._reload(force)
            finally:
                self._checked = time.monotonic()

    def _reload(self, force: bool) -> bool:
        stamp = self._file_stamp()
        if not force and (stamp == self._stamp or not self._settling.held_still(self._config_path, stamp)):
            return False
        self._stamp = stamp
        from engine.config.engine_config import load_engine_config
        from foundation.yaml_files import ConfigError

        try:
            config = load_engine_config(self._config_path, self._environ or None)
            self._routes = [CompiledRoute.compile(r) for r in config.routes]
        except (ConfigError, ValueError) as exc:
            log.error("routes not reloaded, the configuration has problems (keeping the previous routes):\n%s", exc)
            return False
        log.info("routes reloaded: %d routes, %d enabled", len(self._routes),
                 sum(1 for r in self._routes if r.config.enabled))
        return True

    @property
    def routes(self) -> list[RouteConfig]:
        self.reload_if_changed()
        return [r.config for r in self._routes if r.config.enabled]

    # Matching --------------------------------------------------------------------------

    def matching_routes(self, resource: dict[str, Any], source: Source) -> list[tuple[str, str]]:
        """(route, destination) pairs for a resource; the first route to name a destination wins."""
        self.reload_if_changed()
        chosen: dict[str, str] = {}
        for route in self._routes:
            if not route.config.enabled or not route.matches(resource, source.channel, source.message_type):
                continue
            for destination in route.config.destinations:
                if destination in self.active_destinations and destination not in chosen:
                    chosen[destination] = route.name
        return [(route, destination) for destination, route in chosen.items()]

    def destinations_for(self, resource: dict[str, Any], source: Source) -> list[str]:
        return [destination for _, destination in self.matching_routes(resource, source)]

    def routes_again(self, session: Session, resource: dict[str, Any], version_id: int) -> list[tuple[str, str]]:
        """(route, destination) pairs for a stored version routed again, as its source was routed."""
        return self.matching_routes(resource, recorded_source(session, resource["resourceType"], resource["id"],
                                                              version_id))

    def route_to(self, session: Session, resource: dict[str, Any], version_id: int, destination: str) -> str | None:
        """The route that would carry a stored version to ``destination`` (its transform applies), if any."""
        return next((route for route, target in self.routes_again(session, resource, version_id)
                     if target == destination), None)

    def transform(self, route_name: str | None, resource: dict[str, Any]) -> dict[str, Any]:
        """Apply a route's transforms (none for deliveries no route planned, such as dependencies)."""
        self.reload_if_changed()  # a worker process plans nothing: this is where it sees an edited route
        route = next((r for r in self._routes if r.name == route_name), None) if route_name else None
        return route.apply(resource) if route is not None else resource

    # Planning --------------------------------------------------------------------------

    def plan(self, session: Session, outcomes: Iterable[WriteOutcome], source: Source,
             origin: str = "automatic") -> list[Delivery]:
        """Add outbox rows for every changed resource; returns them (ids assigned on flush)."""
        deliveries = []
        now = utcnow()
        for outcome in outcomes:
            if not outcome.changed:
                continue
            resource = outcome.resource or self._before_delete(session, outcome)
            for route, destination in self.matching_routes(resource, source):
                deliveries.append(Delivery(
                    destination=destination, resource_type=outcome.resource_type, resource_id=outcome.id,
                    resource_version=outcome.version_id, order_key=order_key(resource), origin=origin,
                    route=route, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, enqueued_at=now,
                    created_at=now, updated_at=now,
                ))
        if deliveries:  # the flush assigns their ids; with none there is nothing to flush yet
            session.add_all(deliveries)
            session.flush()
        return deliveries

    @staticmethod
    def _before_delete(session: Session, outcome: WriteOutcome) -> dict[str, Any]:
        """A delete carries no content: route it as the version it removed."""
        previous = session.scalar(
            select(ResourceVersion).where(
                ResourceVersion.resource_type == outcome.resource_type, ResourceVersion.id == outcome.id,
                ResourceVersion.content.is_not(None)).order_by(ResourceVersion.version_id.desc()).limit(1))
        if previous is not None:
            return decimal_json.loads(previous.content)
        return {"resourceType": outcome.resource_type, "id": outcome.id}
