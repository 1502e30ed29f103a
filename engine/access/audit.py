"""The audit trail: one PHI-free record per access to patient data and per login, kept for a set
period, readable as FHIR R4 AuditEvents (``GET /fhir/AuditEvent``) and in the admin API.

A record names who (client id or user name), what (a resource type and id, or a search's
parameter names without their values), the action, the outcome, when and from where. It is
written by the engine's own tables, never through the repository, so it is never routed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from engine.db.database import Database
from engine.db.models import AuditRecord, utcnow

log = logging.getLogger(__name__)

#: AuditEvent.outcome codes.
SUCCESS, MINOR_FAILURE, SERIOUS_FAILURE = "0", "4", "8"
#: The FHIR restful interactions and their AuditEvent.action.
ACTIONS = {"create": "C", "read": "R", "vread": "R", "search-type": "R", "search-system": "R", "history-instance": "R",
           "history-type": "R", "history-system": "R", "update": "U", "patch": "U", "delete": "D", "transaction": "E",
           "batch": "E", "login": "E", "logout": "E", "token": "E", "replay": "E", "retry": "E", "resync": "E",
           "export": "R", "raw": "R", "send": "C", "erase": "D"}
#: Subtypes that are FHIR restful interactions (the others are Carebridge's own operations).
RESTFUL = {"create", "read", "vread", "search-type", "search-system", "history-instance", "history-type",
           "history-system", "update", "patch", "delete", "transaction", "batch"}


@dataclass(frozen=True)
class Agent:
    """Who acted: ``client`` (an API client id), ``user`` (a user name) or ``anonymous``."""

    kind: str
    name: str


ANONYMOUS = Agent("anonymous", "anonymous")


def outcome_of(status: int) -> str:
    return SUCCESS if status < 400 else MINOR_FAILURE if status < 500 else SERIOUS_FAILURE


class AuditLog:
    """Writes and reads the audit trail."""

    def __init__(self, database: Database, retention_days: float = 2190):
        self.database = database
        self.retention = timedelta(days=retention_days)

    def record(self, agent: Agent, subtype: str, surface: str, *, entity_type: str | None = None,
               entity_id: str | None = None, query: list[str] | None = None, outcome: str = SUCCESS,
               detail: str | None = None, source: str | None = None) -> None:
        """Write one record; an audit that cannot be written is logged (ids only) and never hides the answer."""
        names = sorted({name.split(":")[0] for name in query or []})
        row = AuditRecord(agent_kind=agent.kind, agent=agent.name[:128], action=ACTIONS.get(subtype, "E"),
                          subtype=subtype, surface=surface, entity_type=entity_type,
                          entity_id=entity_id[:128] if entity_id else None,
                          query=",".join(names)[:1000] if names else None, outcome=outcome,
                          detail=detail[:255] if detail else None, source=(source or "")[:64] or None)
        try:
            with self.database.write() as session:
                session.add(row)
        except Exception as exc:  # noqa: BLE001 - the trail must not take the engine down with it
            log.error("could not write an audit record (%s %s): %s", surface, subtype, type(exc).__name__)

    def prune(self, now: datetime | None = None) -> int:
        """Delete records older than the retention period; the number deleted."""
        cutoff = (now or utcnow()) - self.retention
        with self.database.write() as session:
            return session.execute(delete(AuditRecord).where(AuditRecord.recorded < cutoff)).rowcount or 0

    def find(self, *, before_id: int | None = None, limit: int = 50, **criteria) -> list[AuditRecord]:
        """Newest first; ``criteria``: agent, entity_type, entity_id, action, outcome, since, until."""
        query = _where(select(AuditRecord), **criteria)
        if before_id:
            query = query.where(AuditRecord.id < before_id)
        with self.database.read() as session:
            return list(session.scalars(query.order_by(AuditRecord.id.desc()).limit(limit)))

    def count(self, **criteria) -> int:
        with self.database.read() as session:
            return session.scalar(_where(select(func.count()).select_from(AuditRecord), **criteria)) or 0

    def get(self, record_id: int) -> AuditRecord | None:
        with self.database.read() as session:
            return session.get(AuditRecord, record_id)


def _where(query, *, agent: str | None = None, entity_type: str | None = None, entity_id: str | None = None,
           action: str | None = None, outcome: str | None = None, since: datetime | None = None,
           until: datetime | None = None):
    for column, value in ((AuditRecord.agent, agent), (AuditRecord.entity_type, entity_type),
                          (AuditRecord.entity_id, entity_id), (AuditRecord.action, action),
                          (AuditRecord.outcome, outcome)):
        if value:
            query = query.where(column == value)
    if since:
        query = query.where(AuditRecord.recorded >= since)
    if until:
        query = query.where(AuditRecord.recorded < until)
    return query


def as_dict(row: AuditRecord) -> dict:
    return {"id": row.id, "recorded": row.recorded.isoformat(), "agent": row.agent, "agentKind": row.agent_kind,
            "action": row.action, "subtype": row.subtype, "surface": row.surface, "entityType": row.entity_type,
            "entityId": row.entity_id, "parameters": row.query.split(",") if row.query else [],
            "outcome": row.outcome, "detail": row.detail, "source": row.source}


def as_audit_event(row: AuditRecord) -> dict:
    """The record as a FHIR R4 AuditEvent."""
    if row.subtype in ("login", "logout"):
        event_type = {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110114",
                      "display": "User Authentication"}
    else:
        event_type = {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                      "display": "RESTful Operation"}
    subtype_system = ("http://hl7.org/fhir/restful-interaction" if row.subtype in RESTFUL
                      else "urn:carebridge:audit-subtype")
    agent = {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                                  "code": "humanuser" if row.agent_kind == "user" else "dataprocessor"}]},
             "who": {"identifier": {"system": f"urn:carebridge:{row.agent_kind}", "value": row.agent},
                     "display": row.agent},
             "requestor": True}
    if row.source:
        agent["network"] = {"address": row.source, "type": "2"}
    event = {"resourceType": "AuditEvent", "id": str(row.id),
             "meta": {"lastUpdated": row.recorded.isoformat()},
             "type": event_type, "subtype": [{"system": subtype_system, "code": row.subtype}],
             "action": row.action, "recorded": row.recorded.isoformat(), "outcome": row.outcome,
             "agent": [agent],
             "source": {"site": row.surface, "observer": {"display": "Carebridge"},
                        "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                                  "code": "4", "display": "Application Server"}]}}
    if row.detail:
        event["outcomeDesc"] = row.detail
    entity: dict = {}
    if row.entity_type and row.entity_id:
        entity["what"] = {"reference": f"{row.entity_type}/{row.entity_id}"}
    elif row.entity_type:
        entity["what"] = {"display": row.entity_type}
    if row.query:
        entity["description"] = f"search parameters: {row.query}"
        entity["detail"] = [{"type": "parameters", "valueString": row.query}]
    if entity:
        entity["type"] = {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                          "display": "System Object"}
        event["entity"] = [entity]
    return event
