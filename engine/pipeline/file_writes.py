"""Writes what a file became: its resources, their outbox rows and the file's message status in
one transaction, then tells the queue, through the FHIR API's write service, so files follow
the same outbox discipline and routing as API writes. A FHIR file's Bundle is written by the
very code that answers a Bundle POSTed to the FHIR API, in the transaction that marks the file.

:func:`save_as_posted` saves the resources a document's mapping names by ``id`` (its Binary)
as the FHIR API would take a PUT of them, linked to the file's stored message.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from engine.db.models import MessageStatus
from engine.fhir_api.bundles import write_bundle
from engine.fhir_api.errors import FhirError
from engine.fhir_api.writes import FhirWriter
from engine.repository.resources import FhirRepository, WriteOutcome
from engine.routing.router import Source
from engine.store.message_store import MessageStore
from mappings.files.documents import FileResources

log = logging.getLogger(__name__)


def save_as_posted(session: Session, repository: FhirRepository, resource: dict[str, Any],
                   message_id: int | None) -> WriteOutcome:
    """Save one resource as the FHIR API would take a PUT of it (its ``id`` is kept); not committed."""
    return repository.save(session, resource, message_id=message_id)


#: The base a Bundle from a file is read against: its entries' URLs are relative, as clients send them.
FILE_BASE = "urn:carebridge:file"


def describe(error: FhirError) -> str:
    """An API error as a file's reason: status, stable code and diagnostics (which name no values)."""
    where = f" at {', '.join(error.expressions)}" if error.expressions else ""
    return f"{error.status} {error.code}{where}: {error.diagnostics}"


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

    def write_bundle(self, message_id: int, channel: str, bundle: dict[str, Any]) -> str | None:
        """Write a batch or transaction Bundle as POST to the FHIR API's base would, marking the
        message in the same commit; returns why entries (or the transaction) failed, or ``None``."""
        try:
            with self.fhir_writer.unit(Source(channel, "FHIR")) as unit:
                unit.message_id = message_id
                failures = write_bundle(unit, bundle, FILE_BASE)
                reason = None
                if failures:
                    reason = f"{len(failures)} of {len(bundle.get('entry') or [])} Bundle entries failed: " + \
                        "; ".join(f"entry {index}: {describe(error)}" for index, error in sorted(failures.items()))
                MessageStore.mark(unit.session, message_id, MessageStatus.ERROR if failures else MessageStatus.MAPPED,
                                  reason)
        except FhirError as error:  # a transaction, or the Bundle itself: nothing was written
            reason = f"the Bundle was refused: {describe(error)}"
            self.settle(message_id, MessageStatus.ERROR, reason)
        return reason

    def settle(self, message_id: int, status: str, reason: str | None) -> None:
        """Record what became of a file that wrote nothing (an error, or waiting for its patient)."""
        with self.fhir_writer.database.write() as session:
            MessageStore.mark(session, message_id, status, reason)
