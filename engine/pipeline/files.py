"""Turns one claimed file into stored bytes and FHIR resources, and says where the file goes
next: ``done``, ``error`` (with the reason) or ``wait`` (its patient is not known yet).

The file is stored in the message store before anything else, and a file resumed after a
crash is found there by channel, SHA-256 and name instead of being stored again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from engine.db.database import Database, is_transient
from engine.db.models import Message, MessageStatus, utcnow
from engine.pipeline.file_reads import TooLarge, read_regular_file
from engine.pipeline.file_settings import FileChannelSettings
from engine.pipeline.file_writes import FileWriter
from engine.pipeline.hl7 import Pipeline
from engine.pipeline.hl7_files import receive_hl7_file
from engine.repository.resources import FhirRepository
from engine.repository.validation import ResourceInvalid
from engine.store.message_store import MessageStore
from foundation.code_trace import code_trace
from foundation.errors import CarebridgeError
from mappings.errors import MappingError
from mappings.files.cda import map_cda
from mappings.files.documents import FileResources, binary, document_reference
from mappings.files.fhir_files import as_bundle
from mappings.files.guards import Refused, check_complete, check_zip, inflate_gzip
from mappings.files.kinds import FHIR_NDJSON, UNKNOWN, ZIP, FileKind, detect
from mappings.files.metadata import DocumentMetadata, from_file_name, read_sidecar
from mappings.files.text_encoding import decode_text

log = logging.getLogger(__name__)

#: Where a file goes after :meth:`FileReceiver.receive`.
DONE, ERROR, WAIT = "done", "error", "wait"


#: How each kind of refusal is introduced in a reason.
EXPLANATIONS = {Refused: "refused", MappingError: "mapping error", ResourceInvalid: "not valid FHIR"}


@dataclass(frozen=True)
class FileOutcome:
    status: str
    message_id: int | None = None
    reason: str | None = None


class WaitForPatient(CarebridgeError):
    """The document's patient is not known yet and the channel waits for it."""


class DatabaseUnavailable(CarebridgeError):
    """The database failed while the file was stored or written; the file stays claimed and is
    tried again (``message_id`` is set when the file itself was stored)."""

    def __init__(self, cause: BaseException, message_id: int | None = None):
        super().__init__(f"the database failed: {type(cause).__name__}")
        self.message_id = message_id


class FileReceiver:
    """Receives files for one channel.

    Example::

        receiver = FileReceiver(settings, store, pipeline, writer, repository, database)
        outcome = receiver.receive(Path("processing/scan.pdf"), Path("processing/scan.pdf.json"))
    """

    def __init__(self, settings: FileChannelSettings, store: MessageStore, pipeline: Pipeline, writer: FileWriter,
                 repository: FhirRepository, database: Database):
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.writer = writer
        self.repository = repository
        self.database = database

    @property
    def channel(self) -> str:
        return self.settings.name

    def receive(self, path: Path, sidecar: Path | None = None, resumed: bool = False) -> FileOutcome:
        """Store and process one file; never raises for bad input.

        Raises :class:`DatabaseUnavailable` when the database fails: nothing about the file is
        decided then, and receiving it again (``resumed=True``) finishes it.
        """
        try:
            return self._receive(path, sidecar, resumed)
        except DatabaseUnavailable:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise DatabaseUnavailable(exc) from exc
            raise

    def _receive(self, path: Path, sidecar: Path | None, resumed: bool) -> FileOutcome:
        try:
            raw = read_regular_file(path, self.settings.max_file_bytes)
        except TooLarge as exc:
            return self._refuse_unread(path, exc.size, f"file is {exc.size} bytes, over the channel's limit of "
                                                       f"{self.settings.max_file_bytes}")
        except Refused as exc:  # a symbolic link, a FIFO: never followed, never read
            return self._refuse_unread(path, 0, f"{EXPLANATIONS[Refused]}: {exc}")
        kind = detect(raw, self.settings.fallback_charset)
        existing = self.store.find_file(self.channel, hashlib.sha256(raw).hexdigest(), path.name) if resumed else None
        if existing is not None and existing.status != MessageStatus.RECEIVED:
            # A crash came after the outcome was committed and before the file was moved.
            return FileOutcome(DONE if existing.status == MessageStatus.MAPPED else ERROR, existing.id, existing.error)
        if existing is None:
            message_id = self.store.store_file(raw, self.channel, content_type=kind.content_type, kind=kind.name,
                                               file_name=path.name)
        else:
            message_id = existing.id
        try:
            sidecar_bytes = read_regular_file(sidecar, self.settings.max_sidecar_bytes, "sidecar") \
                if sidecar is not None and os.path.lexists(sidecar) else None
            reason = self._process(raw, kind, message_id, path.name, sidecar_bytes, existing)
        except WaitForPatient as wait:
            self.writer.settle(message_id, MessageStatus.RECEIVED, str(wait))
            return FileOutcome(WAIT, message_id, str(wait))
        except (Refused, MappingError, ResourceInvalid) as exc:
            reason = f"{next(text for kind, text in EXPLANATIONS.items() if isinstance(exc, kind))}: {exc}"
            self.writer.settle(message_id, MessageStatus.ERROR, reason)
            return FileOutcome(ERROR, message_id, reason)
        except Exception as exc:  # a handler bug must not lose the file or stop the channel
            if is_transient(exc):
                raise DatabaseUnavailable(exc, message_id) from exc
            log.error("channel=%s message=%s: processing failed unexpectedly%s", self.channel, message_id,
                      code_trace(exc))
            reason = f"internal error: {type(exc).__name__}"
            self.writer.settle(message_id, MessageStatus.ERROR, reason)
            return FileOutcome(ERROR, message_id, reason)
        return FileOutcome(ERROR if reason else DONE, message_id, reason)

    def _refuse_unread(self, path: Path, size: int, reason: str) -> FileOutcome:
        # The bytes stay on disk in error/; the message records that the file came and why it was refused.
        message_id = self.store.store_file(b"", self.channel, content_type=UNKNOWN.content_type, file_name=path.name,
                                           size=size, status=MessageStatus.ERROR, error=reason)
        return FileOutcome(ERROR, message_id, reason)

    def _process(self, raw: bytes, kind: FileKind, message_id: int, name: str, sidecar: bytes | None,
                 existing: Message | None) -> str | None:
        """Hand the file to its kind's handler; returns a failure reason the handler recorded itself."""
        if kind.handler == "gzip":
            raw = inflate_gzip(raw, self.settings.max_file_bytes, self.settings.max_expansion_ratio)
            kind = detect(raw, self.settings.fallback_charset)
            if kind.handler in (None, "gzip"):
                raise Refused(f"gzip holds {kind.name} content, which no handler takes")
        if kind.handler is None:
            raise Refused(f"content not recognised ({kind.name}): not a PDF, image, CDA, HL7 v2, FHIR JSON or CSV")
        if kind.handler == "hl7":
            reason = receive_hl7_file(raw, message_id, self.channel, self.pipeline, self.store,
                                      self.settings.fallback_charset)
            self.writer.settle(message_id, MessageStatus.ERROR if reason else MessageStatus.MAPPED, reason)
            return reason
        if kind.handler == "fhir":
            bundle = as_bundle(decode_text(raw, self.settings.fallback_charset), ndjson=kind == FHIR_NDJSON)
            return self.writer.write_bundle(message_id, self.channel, bundle)
        resources = self._resources(raw, kind, message_id, name, sidecar, existing)
        self.writer.write(message_id, self.channel, resources)
        return None

    def _resources(self, raw: bytes, kind: FileKind, message_id: int, name: str, sidecar: bytes | None,
                   existing: Message | None) -> FileResources:
        if kind.handler == "cda":
            return map_cda(raw, self.settings.timezone)
        if kind.handler == "csv":
            if self.settings.csv_mapping is None:
                raise Refused("CSV file, but the channel names no csv_mapping")
            return FileResources("CSV", mapped=self.settings.csv_mapping.map(
                decode_text(raw, self.settings.fallback_charset)))
        return self._document(raw, kind, name, sidecar, existing)

    def _document(self, raw: bytes, kind: FileKind, name: str, sidecar: bytes | None,
                  existing: Message | None) -> FileResources:
        if kind == ZIP:
            check_zip(raw, self.settings.max_file_bytes, self.settings.max_expansion_ratio)
        else:
            check_complete(raw, kind)
        metadata = self._metadata(name, sidecar)
        patient_id = self._patient(metadata, existing)
        reference = document_reference(raw, kind.content_type, subject=f"Patient/{patient_id}",
                                       type_value=metadata.type, title=metadata.title or metadata.type or "Document",
                                       date=metadata.date)
        return FileResources("DOCUMENT", saved=[binary(raw, kind.content_type)], mapped=[reference])

    def _metadata(self, name: str, sidecar: bytes | None) -> DocumentMetadata:
        if sidecar is not None:
            return read_sidecar(sidecar)
        if self.settings.filename_pattern is not None:
            found = from_file_name(name, self.settings.filename_pattern, self.settings.patient_identifier_system)
            if found:
                return found
        raise Refused("no sidecar (<file>.json) names the patient, and the file name does not match "
                      "the channel's filename_pattern")

    def _patient(self, metadata: DocumentMetadata, existing: Message | None) -> str:
        with self.database.read() as session:
            matches = self.repository.identity_matches(session, "Patient",
                                                       [("identifier", metadata.patient_identifier)])
        if len(matches) > 1:
            # Filing under one of them could put a document in the wrong patient's record.
            raise Refused(f"the document's patient identifier matches {len(matches)} patients; "
                          "name its system as well (system|value)")
        if matches:
            return matches[0]
        # The identifier itself may be patient data: reasons name only that it was not found.
        if self.settings.unknown_patient != "wait":
            raise Refused("no Patient has the document's patient identifier")
        waited = (utcnow() - existing.received_at).total_seconds() if existing is not None else 0.0
        if waited > self.settings.wait_max_seconds:
            raise Refused(f"no Patient has the document's patient identifier after waiting {int(waited)} s")
        raise WaitForPatient("waiting for a Patient with the document's patient identifier")
