"""Writes what a file became: its resources, their outbox rows and the file's message status in
one transaction, then tells the queue, through the FHIR API's write service, so files follow
the same outbox discipline and routing as API writes.

:func:`save_as_posted` is the one place resources from files are saved "as if posted to the
FHIR API" (a PUT keeping the resource's ``id``), linked to the file's stored message.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from engine.fhir_writes import FhirWriter
from engine.message_store import MessageStore
from engine.models import MessageStatus
from engine.repository import FhirRepository, WriteOutcome
from engine.routing import Source
from mappings.documents import FileResources

log = logging.getLogger(__name__)


def save_as_posted(session: Session, repository: FhirRepository, resource: dict[str, Any],
                   message_id: int | None) -> WriteOutcome:
    """Save one resource as the FHIR API would take a PUT of it (its ``id`` is kept); not committed."""
    return repository.save(session, resource, message_id=message_id)


class FileWriter:
    """Commits the resources of one stored file and queues their deliveries after the commit.

    Example::

        writer = FileWriter(fhir_writer)
        writer.write(message_id, "inbox", FileResources("CSV", mapped=patients))
    """

    def __init__(self, fhir_writer: FhirWriter):
        self.fhir_writer = fhir_writer

    def write(self, message_id: int, channel: str, resources: FileResources,
              note: str | None = None) -> list[WriteOutcome]:
        """Write and route ``resources``, marking the message ``mapped``; raises (nothing committed) on failure."""
        with self.fhir_writer.unit(Source(channel, resources.kind)) as unit:
            repository = unit.repository
            unit.outcomes += [save_as_posted(unit.session, repository, r, message_id) for r in resources.saved]
            unit.outcomes += repository.apply_mapping(unit.session, resources.mapped, message_id=message_id)
            MessageStore.mark(unit.session, message_id, MessageStatus.MAPPED, note)
        return unit.outcomes

    def settle(self, message_id: int, status: str, reason: str | None) -> None:
        """Record what became of a file that wrote nothing (an error, or waiting for its patient)."""
        with self.fhir_writer.database.write() as session:
            MessageStore.mark(session, message_id, status, reason)
