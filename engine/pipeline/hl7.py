"""The line every inbound HL7 message takes: stored, mapped, written, routed, then queued.

Each step commits before the next is announced: the message is durable before mapping,
resources and their outbox rows commit together, and the queue hears of deliveries only
after that commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Protocol

from sqlalchemy import delete
from sqlalchemy.orm import Session

from engine.db.database import Database, is_transient
from engine.db.models import MessageResource, MessageStatus
from engine.pipeline.hl7_limits import Hl7Limits
from engine.repository.resources import FhirRepository, WriteOutcome
from engine.repository.validation import ResourceInvalid
from engine.routing.outbox import announce
from engine.routing.router import Router, Source
from engine.store.message_store import MessageStore, StoredMessage
from foundation.code_trace import code_trace
from mappings.errors import InternalMappingError, MappingError, UnparseableMessage, UnsupportedMessage
from mappings.result import MappingResult
from mappings.v2.header import MessageHeader, read_header_or_reason

log = logging.getLogger(__name__)

#: The HL7 error code (table 0357) of a message refused for its sender: application error.
REFUSED_ERROR_CODE = "207"


class Mapper(Protocol):
    def map(self, raw: bytes, channel: str | None = None, default_charset: str = "utf-8",
            header: MessageHeader | None = None) -> MappingResult: ...


class OutcomeStatus:
    """What the pipeline did with one message, as its connector acknowledges it."""

    #: Stored and processed: AA.
    ACCEPTED = "accepted"
    #: Stored but not processable (a mapping error, an unsupported type): AE.
    ERROR = "error"
    #: Not a message, or not stored: AR.
    REJECTED = "rejected"


@dataclass
class Outcome:
    """What the pipeline did with one message, for the connector to acknowledge.

    ``status`` is an :class:`OutcomeStatus`.
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
                 channel_charsets: dict[str, str] | None = None, limits: Hl7Limits | None = None):
        self.database = database
        self.store = store
        self.mapper = mapper
        self.repository = repository
        self.router = router
        self.enqueue = enqueue
        self.channel_charsets = channel_charsets or {}
        #: Segments, repetitions and identifiers one message may have (checked on receipt and replay).
        self.limits = limits or Hl7Limits()

    def receive_hl7(self, raw: bytes, channel: str, peer: str | None = None, *,
                    raise_transient: bool = False, header: MessageHeader | None = None,
                    header_error: str | None = None,
                    refuse: Callable[[MessageHeader | None], str | None] | None = None) -> Outcome:
        """Store then process one HL7 v2 message; never raises for bad input.

        A sender that resends (MLLP, HTTP) gets AR or AE when the database fails. A caller that
        retries by itself (a file channel) sets ``raise_transient``: a failure of the database is
        raised then, and the message is left as it was (not stored, or stored as ``received``).
        ``header`` (or ``header_error``, why it cannot be read) is the message's MSH when the
        caller has read it already. ``refuse`` says why the channel does not accept a message
        with this header (``None``: accepted); a refused message is kept with status ``refused``.
        """
        if header is None and header_error is None:
            header, header_error = read_header_or_reason(raw)
        refusal = refuse(header) if refuse is not None else None
        if refusal is not None:
            return self.keep_refused(raw, channel, peer, reason=refusal, header=header, header_error=header_error)
        try:
            stored = self.store.store_hl7(raw, channel, peer=peer, header=header, header_error=header_error)
        except Exception as exc:
            if raise_transient and is_transient(exc):
                raise
            log.error("could not store a message on channel %s%s", channel, code_trace(exc))
            # Not stored, yet MSH-10 may be readable: the AR must still name the message it refuses.
            return Outcome(OutcomeStatus.REJECTED, header, error_code="207", reason="message could not be stored")
        if stored.header is None:
            return Outcome(OutcomeStatus.REJECTED, message_id=stored.id, error_code=UnparseableMessage.hl7_error_code,
                           reason=stored.header_error)
        return self.process(stored, raw, channel, raise_transient=raise_transient)

    def keep_refused(self, raw: bytes, channel: str, peer: str | None, *, reason: str,
                     status: str = MessageStatus.REFUSED, error_code: str = REFUSED_ERROR_CODE,
                     header: MessageHeader | None = None, header_error: str | None = None) -> Outcome:
        """Keep bytes the channel refuses (a sender it does not accept, a broken MLLP frame) with
        ``status`` and ``reason``, never processed; the outcome is an AR naming ``error_code``."""
        if header is None and header_error is None:
            header, header_error = read_header_or_reason(raw)
        try:
            stored = self.store.store_hl7(raw, channel, peer=peer, status=status, error=reason,
                                          header=header, header_error=header_error)
            message_id = stored.id
        except Exception as exc:
            log.error("could not keep a refused message on channel %s%s", channel, code_trace(exc))
            message_id = None
        return Outcome(OutcomeStatus.REJECTED, header, message_id, error_code=error_code, reason=reason)

    def process(self, stored: StoredMessage, raw: bytes, channel: str, *, raise_transient: bool = False) -> Outcome:
        """Map a stored message and write its resources and deliveries in one transaction
        (``raise_transient`` as for :meth:`receive_hl7`)."""
        header = stored.header
        # Counted on the bytes before the parse: a message built to exhaust the engine costs a scan.
        over = self.limits.message_problem(raw, header)
        if over is not None:
            return self._settle(stored, header, MessageStatus.ERROR, over)
        try:
            result = self.mapper.map(raw, channel, self.channel_charsets.get(channel, "utf-8"), header=header)
        except UnsupportedMessage as exc:
            return self._settle(stored, header, MessageStatus.UNSUPPORTED, exc)
        except MappingError as exc:
            return self._settle(stored, header, MessageStatus.ERROR, exc)
        except Exception as exc:  # a mapper bug must not lose the message or kill the listener
            if raise_transient and is_transient(exc):
                raise
            log.error("mapping failed unexpectedly for message %s%s", stored.id, code_trace(exc))
            return self._settle(stored, header, MessageStatus.ERROR, InternalMappingError(None, f"internal mapping error: {type(exc).__name__}"))
        over = self.limits.resources_problem(result.resources)
        if over is not None:
            return self._settle(stored, header, MessageStatus.ERROR, over)
        try:
            with self.database.write() as session:
                written = self.repository.apply_mapping(session, result.resources, message_id=stored.id)
                link_resources(session, stored.id, written)
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
        return Outcome(OutcomeStatus.ACCEPTED, header, stored.id, written=written)

    def _settle(self, stored: StoredMessage, header: MessageHeader | None, status: str, error: MappingError) -> Outcome:
        try:
            with self.database.write() as session:
                MessageStore.mark(session, stored.id, status, str(error))
        except Exception as exc:
            log.error("could not record the outcome of message %s%s", stored.id, code_trace(exc))
        return Outcome(OutcomeStatus.ERROR, header, stored.id, error_code=error.hl7_error_code,
                       error_location=error.location, reason=error.reason)


def link_resources(session: Session, message_id: int, written: list[WriteOutcome]) -> None:
    """Record which resources the message wrote, changed or not (the console finds a message by its
    patient and shows what it produced); a replay's links replace the earlier ones."""
    session.execute(delete(MessageResource).where(MessageResource.message_id == message_id))
    latest = {(w.resource_type, w.id): w for w in written}
    session.add_all(MessageResource(message_id=message_id, resource_type=w.resource_type, resource_id=w.id,
                                    version_id=w.version_id, changed=w.changed) for w in latest.values())
