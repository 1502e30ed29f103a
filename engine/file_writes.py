"""Writes what a file became: its resources, their outbox rows and the file's message status in
one transaction, then tells the queue, the same outbox discipline as the HL7 pipeline.

:func:`save_as_posted` is the one place resources from files are saved "as if posted to the
FHIR API". It calls :meth:`FhirRepository.save` today; when the API's write service
(``runtime.fhir_writer``) lands, switch that function to it and every file kind follows.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from sqlalchemy.orm import Session

from engine.db import Database
from engine.message_store import MessageStore
from engine.models import MessageStatus
from engine.repository import FhirRepository, WriteOutcome
from engine.routing import Router, Source
from mappings.documents import FileResources

log = logging.getLogger(__name__)


def save_as_posted(session: Session, repository: FhirRepository, resource: dict[str, Any],
                   message_id: int | None) -> WriteOutcome:
    """Save one resource as the FHIR API would take a PUT of it (its ``id`` is kept); not committed."""
    return repository.save(session, resource, message_id=message_id)


class FileWriter:
    """Commits the resources of one stored file and queues their deliveries after the commit.

    Example::

        writer = FileWriter(database, repository, router, queue.enqueue)
        writer.write(message_id, "inbox", FileResources("CSV", mapped=patients))
    """

    def __init__(self, database: Database, repository: FhirRepository, router: Router,
                 enqueue: Callable[[list[int]], None]):
        self.database = database
        self.repository = repository
        self.router = router
        self.enqueue = enqueue

    def write(self, message_id: int, channel: str, resources: FileResources,
              note: str | None = None) -> list[WriteOutcome]:
        """Write and route ``resources``, marking the message ``mapped``; raises (nothing committed) on failure."""
        with self.database.write() as session:
            outcomes = [save_as_posted(session, self.repository, r, message_id) for r in resources.saved]
            outcomes += self.repository.apply_mapping(session, resources.mapped, message_id=message_id)
            deliveries = self.router.plan(session, outcomes, Source(channel, resources.kind))
            delivery_ids = [d.id for d in deliveries]
            MessageStore.mark(session, message_id, MessageStatus.MAPPED, note)
        if delivery_ids:
            try:
                self.enqueue(delivery_ids)
            except Exception:
                # The outbox rows are committed; the sweeper will queue them.
                log.warning("queue unavailable; %d deliveries left for the sweeper", len(delivery_ids))
        return outcomes

    def settle(self, message_id: int, status: str, reason: str | None) -> None:
        """Record what became of a file that wrote nothing (an error, or waiting for its patient)."""
        with self.database.write() as session:
            MessageStore.mark(session, message_id, status, reason)
