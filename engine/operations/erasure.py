"""Erasing one patient everywhere: the Patient and every version of it, the resources about them alone
(and the Binaries only their documents use) with their versions and search index, the raw messages that
wrote nothing else, their deliveries, cross-references and sync log. An audit record says it happened.

On SQLite the deletes overwrite what they free (``secure_delete``) and the write-ahead log is emptied, so
the file no longer holds the patient. On PostgreSQL, deleted rows stay on disk until VACUUM reuses them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select, text, tuple_
from sqlalchemy.orm import Session

from engine.access.audit import Agent, AuditLog
from engine.db.database import Database
from engine.db.models import (CrossReference, Delivery, Message, MessageResource, ResourceRecord, ResourceVersion,
                              SearchDate, SearchReference, SearchString, SearchToken, SyncLogEntry)
from engine.routing.router import patient_reference

log = logging.getLogger(__name__)

#: The index tables, each keyed by (resource_type, resource_id).
SEARCH_TABLES = (SearchToken, SearchString, SearchDate, SearchReference)
#: Most keys in one ``IN`` list (SQLite allows 32,766 bound values; a key is two).
CHUNK = 500


@dataclass
class ErasurePlan:
    """What erasing a patient removes (or removed): counts and resource keys, never content."""

    patient_id: str
    resources: list[tuple[str, str]] = field(default_factory=list)
    message_ids: list[int] = field(default_factory=list)
    versions: int = 0
    deliveries: int = 0
    cross_references: int = 0
    sync_log: int = 0
    #: Messages that wrote this patient's resources and others too: kept, without the patient's rows.
    shared_messages: int = 0

    def describe(self) -> str:
        kinds: dict[str, int] = {}
        for resource_type, _ in self.resources:
            kinds[resource_type] = kinds.get(resource_type, 0) + 1
        parts = [", ".join(f"{n} {t}" for t, n in sorted(kinds.items())), f"{self.versions} versions",
                 f"{len(self.message_ids)} messages", f"{self.deliveries} deliveries",
                 f"{self.cross_references} cross-references", f"{self.sync_log} sync-log rows"]
        if self.shared_messages:
            parts.append(f"{self.shared_messages} messages about others kept")
        return "; ".join(parts)


def _chunks(items: list) -> list[list]:
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def _latest_content(session: Session, resource_type: str, resource_id: str) -> dict | None:
    """The resource's current content, or its last version with content (a deleted resource keeps none)."""
    record = session.get(ResourceRecord, (resource_type, resource_id))
    if record is not None and record.content:
        return json.loads(record.content)
    content = session.scalar(select(ResourceVersion.content).where(
        ResourceVersion.resource_type == resource_type, ResourceVersion.id == resource_id,
        ResourceVersion.content.is_not(None)).order_by(ResourceVersion.version_id.desc()).limit(1))
    return json.loads(content) if content else None


def _exists(session: Session, patient_id: str) -> bool:
    return session.scalar(select(ResourceVersion.version_id).where(
        ResourceVersion.resource_type == "Patient", ResourceVersion.id == patient_id).limit(1)) is not None


def _patient_resources(session: Session, patient_id: str) -> list[tuple[str, str]]:
    """The patient and what is about them alone: found by the index (current resources) and by the text
    of every version (deleted ones), decided by the resource's own patient reference."""
    reference = f"Patient/{patient_id}"
    candidates = set(session.execute(select(SearchReference.resource_type, SearchReference.resource_id).where(
        SearchReference.target_type == "Patient", SearchReference.target_id == patient_id)).all())
    candidates |= set(session.execute(select(ResourceVersion.resource_type, ResourceVersion.id).where(
        ResourceVersion.resource_type != "Patient",
        ResourceVersion.content.contains(f'"{reference}"')).distinct()).all())
    found = [("Patient", patient_id)]
    binaries: set[str] = set()
    for resource_type, resource_id in sorted(candidates):
        content = _latest_content(session, resource_type, resource_id)
        if content is None or patient_reference(content) != reference:
            continue
        found.append((resource_type, resource_id))
        if resource_type == "DocumentReference":
            binaries |= {url.removeprefix("Binary/") for item in content.get("content") or []
                         if isinstance(url := (item.get("attachment") or {}).get("url"), str)
                         and url.startswith("Binary/")}
    erased = set(found)
    for binary_id in sorted(binaries):
        # A Binary is content-addressed: another patient's document may carry the same file.
        users = session.execute(select(ResourceRecord.resource_type, ResourceRecord.id).where(
            ResourceRecord.deleted.is_(False), ResourceRecord.content.contains(f'"Binary/{binary_id}"'))).all()
        if all(tuple(user) in erased for user in users):
            found.append(("Binary", binary_id))
    return found


def _keyed(columns, keys: list[tuple[str, str]]):
    return tuple_(*columns).in_(keys)


def plan_erasure(database: Database, patient_id: str) -> ErasurePlan | None:
    """What :func:`erase_patient` would remove; ``None`` when no such patient ever existed."""
    patient_id = patient_id.removeprefix("Patient/")
    with database.read() as session:
        if not _exists(session, patient_id):
            return None
        return _plan(session, patient_id)


def _plan(session: Session, patient_id: str) -> ErasurePlan:
    plan = ErasurePlan(patient_id, _patient_resources(session, patient_id))
    erased = set(plan.resources)
    message_ids: set[int] = set()
    for keys in _chunks(plan.resources):
        message_ids |= set(session.scalars(select(MessageResource.message_id).where(
            _keyed((MessageResource.resource_type, MessageResource.resource_id), keys))))
        message_ids |= {m for m in session.scalars(select(ResourceVersion.message_id).where(
            _keyed((ResourceVersion.resource_type, ResourceVersion.id), keys))) if m is not None}
        plan.versions += len(session.scalars(select(ResourceVersion.version_id).where(
            _keyed((ResourceVersion.resource_type, ResourceVersion.id), keys))).all())
        plan.deliveries += len(session.scalars(select(Delivery.id).where(
            _keyed((Delivery.resource_type, Delivery.resource_id), keys))).all())
        plan.cross_references += len(session.execute(select(CrossReference.destination).where(
            _keyed((CrossReference.resource_type, CrossReference.local_id), keys))).all())
    for ids in _chunks(sorted(message_ids)):
        wrote: dict[int, set] = {i: set() for i in ids}
        for message_id, resource_type, resource_id in session.execute(select(
                MessageResource.message_id, MessageResource.resource_type, MessageResource.resource_id).where(
                MessageResource.message_id.in_(ids))):
            wrote[message_id].add((resource_type, resource_id))
        for message_id, resources in wrote.items():
            if resources <= erased:
                plan.message_ids.append(message_id)
            else:
                plan.shared_messages += 1
    plan.sync_log = len(session.scalars(select(SyncLogEntry.id).where(_sync_rows(plan))).all())
    return plan


def _sync_rows(plan: ErasurePlan):
    references = [f"{t}/{i}" for t, i in plan.resources]
    return or_(SyncLogEntry.patient_ref == f"Patient/{plan.patient_id}", SyncLogEntry.resource_ref.in_(references),
               SyncLogEntry.document_ref.in_(references))


def erase_patient(database: Database, patient_id: str, audit: AuditLog, agent: Agent, surface: str, *,
                  source: str | None = None) -> ErasurePlan:
    """Remove the patient everywhere in one transaction and audit it; raise LookupError for an unknown id."""
    patient_id = patient_id.removeprefix("Patient/")
    with database.write() as session:
        if not _exists(session, patient_id):
            raise LookupError("no patient has that id")
        if database.is_sqlite:
            # Freed pages and cells are overwritten, so deleted text does not linger in the file.
            session.execute(text("PRAGMA secure_delete = ON"))
        try:
            plan = _plan(session, patient_id)
            _delete(session, plan)
        finally:
            if database.is_sqlite and session.is_active:  # after a failure the rollback returns the connection
                session.execute(text("PRAGMA secure_delete = OFF"))
    if database.is_sqlite:
        _empty_write_ahead_log(database)
    # Ids and counts only: the person is not named.
    audit.record(agent, "erase", surface, entity_type="Patient", entity_id=patient_id,
                 detail=f"{len(plan.resources)} resources, {len(plan.message_ids)} messages erased", source=source)
    log.info("erased Patient/%s: %d resources, %d messages", patient_id, len(plan.resources), len(plan.message_ids))
    return plan


def _delete(session: Session, plan: ErasurePlan) -> None:
    for keys in _chunks(plan.resources):
        for model in SEARCH_TABLES:
            session.execute(delete(model).where(_keyed((model.resource_type, model.resource_id), keys)))
        session.execute(delete(ResourceVersion).where(
            _keyed((ResourceVersion.resource_type, ResourceVersion.id), keys)))
        session.execute(delete(ResourceRecord).where(_keyed((ResourceRecord.resource_type, ResourceRecord.id), keys)))
        session.execute(delete(MessageResource).where(
            _keyed((MessageResource.resource_type, MessageResource.resource_id), keys)))
        session.execute(delete(CrossReference).where(
            _keyed((CrossReference.resource_type, CrossReference.local_id), keys)))
        session.execute(delete(Delivery).where(_keyed((Delivery.resource_type, Delivery.resource_id), keys)))
    session.execute(delete(SyncLogEntry).where(_sync_rows(plan)))
    for ids in _chunks(plan.message_ids):
        session.execute(delete(MessageResource).where(MessageResource.message_id.in_(ids)))
        session.execute(delete(Message).where(Message.id.in_(ids)))


def _empty_write_ahead_log(database: Database) -> None:
    """Copy the log into the file and truncate it: the log still holds the pages as they were before."""
    connection = database.engine.raw_connection()  # outside any transaction, which a checkpoint needs
    try:
        busy, _, _ = connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()
    if busy:
        log.warning("the SQLite write-ahead log could not be emptied now (a reader was busy); "
                    "it is on the next checkpoint")
