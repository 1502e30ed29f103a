"""The line every inbound HL7 message takes: stored, mapped, written, routed, then queued.

Each step commits before the next is announced: the message is durable before mapping,
resources and their outbox rows commit together, and the queue hears of deliveries only
after that commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Protocol

from engine.code_trace import code_trace
from engine.db import Database, is_transient
from engine.message_store import MessageStore, StoredMessage
from engine.models import MessageStatus
from engine.outbox import announce
from engine.repository import FhirRepository, WriteOutcome
from engine.routing import Router, Source
from engine.validation import ResourceInvalid
from mappings.errors import InternalMappingError, MappingError, UnparseableMessage, UnsupportedMessage
from mappings.hl7_header import MessageHeader, peek_header
from mappings.result import MappingResult

log = logging.getLogger(__name__)


class Mapper(Protocol):
    def map(self, raw: bytes, channel: str | None = None, default_charset: str = "utf-8") -> MappingResult: ...


@dataclass
class Outcome:
    """What the pipeline did with one message, for the connector to acknowledge.

    ``status`` is ``accepted`` (AA), ``error`` (stored but not processable: AE) or
    ``rejected`` (not a message or not stored: AR).
    """

    status: str
    header: MessageHeader | None = None
    message_id: int | None = None
    error_code: str | None = None
    error_location: str | None = None
    reason: str | None = None
    written: list[WriteOutcome] = field(default_factory=list)


class Pipeline:
    """Runs inbound messages through the stations."""

    def __init__(self, database: Database, store: MessageStore, mapper: Mapper, repository: FhirRepository,
                 router: Router, enqueue: Callable[[list[int]], None],
                 channel_charsets: dict[str, str] | None = None):
        self.database = database
        self.store = store
        self.mapper = mapper
        self.repository = repository
        self.router = router
        self.enqueue = enqueue
        self.channel_charsets = channel_charsets or {}

    def receive_hl7(self, raw: bytes, channel: str, peer: str | None = None, *,
                    raise_transient: bool = False) -> Outcome:
        """Store then process one HL7 v2 message; never raises for bad input.

        A sender that resends (MLLP, HTTP) gets AR or AE when the database fails. A caller that
        retries by itself (a file channel) sets ``raise_transient``: a failure of the database is
        raised then, and the message is left as it was (not stored, or stored as ``received``).
        """
        try:
            stored = self.store.store_hl7(raw, channel, peer=peer)
        except Exception as exc:
            if raise_transient and is_transient(exc):
                raise
            log.error("could not store a message on channel %s%s", channel, code_trace(exc))
            # Not stored, yet MSH-10 may be readable: the AR must still name the message it refuses.
            return Outcome("rejected", peek_header(raw), error_code="207", reason="message could not be stored")
        if stored.header is None:
            return Outcome("rejected", message_id=stored.id, error_code=UnparseableMessage.hl7_error_code,
                           reason=stored.header_error)
        return self.process(stored, raw, channel, raise_transient=raise_transient)

    def process(self, stored: StoredMessage, raw: bytes, channel: str, *, raise_transient: bool = False) -> Outcome:
        """Map a stored message and write its resources and deliveries in one transaction
        (``raise_transient`` as for :meth:`receive_hl7`)."""
        header = stored.header
        try:
            result = self.mapper.map(raw, channel, self.channel_charsets.get(channel, "utf-8"))
        except UnsupportedMessage as exc:
            return self._settle(stored, header, MessageStatus.UNSUPPORTED, exc)
        except MappingError as exc:
            return self._settle(stored, header, MessageStatus.ERROR, exc)
        except Exception as exc:  # a mapper bug must not lose the message or kill the listener
            if raise_transient and is_transient(exc):
                raise
            log.error("mapping failed unexpectedly for message %s%s", stored.id, code_trace(exc))
            return self._settle(stored, header, MessageStatus.ERROR, InternalMappingError(None, f"internal mapping error: {type(exc).__name__}"))
        try:
            with self.database.write() as session:
                written = self.repository.apply_mapping(session, result.resources, message_id=stored.id)
                deliveries = self.router.plan(session, written, Source(channel, header.message_type))
                delivery_ids = [d.id for d in deliveries]
                MessageStore.mark(session, stored.id, MessageStatus.MAPPED, "; ".join(result.notes) or None)
        except ResourceInvalid as exc:
            first = exc.issues[0]
            return self._settle(stored, header, MessageStatus.ERROR,
                                MappingError(first.expression, f"mapped resource is not valid FHIR: {exc}"))
        except Exception as exc:
            if raise_transient and is_transient(exc):
                raise
            log.error("writing resources failed for message %s%s", stored.id, code_trace(exc))
            return self._settle(stored, header, MessageStatus.ERROR,
                                MappingError(None, f"could not write resources: {type(exc).__name__}"))
        announce(self.enqueue, delivery_ids)
        return Outcome("accepted", header, stored.id, written=written)

    def _settle(self, stored: StoredMessage, header: MessageHeader | None, status: str, error: MappingError) -> Outcome:
        try:
            with self.database.write() as session:
                MessageStore.mark(session, stored.id, status, str(error))
        except Exception as exc:
            log.error("could not record the outcome of message %s%s", stored.id, code_trace(exc))
        return Outcome("error", header, stored.id, error_code=error.hl7_error_code,
                       error_location=error.location, reason=error.reason)
