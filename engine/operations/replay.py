"""Replays stored messages: they re-enter the line at the mapping station, as if just received.

Operators replay a message after fixing its cause (a mapping added for an ``unsupported``
type, a mapping error corrected). At start the engine also replays messages a crash left
at ``received`` (stored, never processed), so an acknowledged message is never stranded.

A stored HL7 *file* (a batch, or messages concatenated) is not one message: each message it
held was stored on its own, and the file's channel resumes the file itself. Replay and
recovery take the messages, never the file.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from engine.db.models import HL7_CONTENT_TYPE, Message, MessageStatus, utcnow
from engine.pipeline.hl7 import Outcome, Pipeline
from engine.store.message_store import MessageStore, StoredMessage
from foundation.errors import CarebridgeError
from mappings.errors import MappingError
from mappings.v2.header import read_header

log = logging.getLogger(__name__)

#: A message still ``received`` this long after arriving was interrupted, not in progress.
STRANDED_AFTER_SECONDS = 60
#: Most messages replayed by one bulk request.
MAX_BULK_REPLAY = 10000



def single_hl7_messages() -> tuple:
    """Conditions for stored HL7 messages that are one message each: not the files that held several."""
    return Message.content_type == HL7_CONTENT_TYPE, Message.file_name.is_(None)


class UnreplayableMessage(CarebridgeError):
    """The message cannot re-enter the line (unknown id, or a content type with no replay path)."""


class MessageReplay:
    """Sends stored messages through the pipeline again.

    Example::

        MessageReplay(pipeline, store).replay(42)
    """

    def __init__(self, pipeline: Pipeline, store: MessageStore):
        self.pipeline = pipeline
        self.store = store

    def replay(self, message_id: int) -> Outcome:
        message = self.store.get(message_id)
        if message is None:
            raise UnreplayableMessage(f"no message {message_id}")
        if message.content_type != HL7_CONTENT_TYPE:
            raise UnreplayableMessage(f"message {message_id} is {message.content_type}; only HL7 v2 replays here")
        if message.file_name is not None:
            raise UnreplayableMessage(f"message {message_id} is a stored file; replay the messages it held "
                                      f"(peer file:{message_id}#<n>)")
        try:
            header = read_header(message.raw)
        except MappingError as exc:
            raise UnreplayableMessage(f"message {message_id} has no readable MSH: {exc}") from None
        log.info("replaying message %s (was %s)", message_id, message.status)
        return self.pipeline.process(StoredMessage(message.id, header), message.raw, message.channel)

    def replay_where(self, *, status: str | None = None, message_type: str | None = None,
                     channel: str | None = None, limit: int = MAX_BULK_REPLAY) -> dict[int, Outcome]:
        """Replay every HL7 message matching the filters, oldest first."""
        with self.store.database.read() as session:
            query = select(Message.id).where(*single_hl7_messages())
            if status:
                query = query.where(Message.status == status)
            if message_type:
                query = query.where(Message.message_type == message_type)
            if channel:
                query = query.where(Message.channel == channel)
            ids = list(session.scalars(query.order_by(Message.id).limit(limit)))
        return {message_id: self.replay(message_id) for message_id in ids}

    def recover_stranded(self) -> list[int]:
        """Process messages stored but never processed (the engine stopped in between)."""
        cutoff = utcnow() - timedelta(seconds=STRANDED_AFTER_SECONDS)
        with self.store.database.read() as session:
            ids = list(session.scalars(
                select(Message.id).where(Message.status == MessageStatus.RECEIVED, Message.received_at < cutoff,
                                         *single_hl7_messages()).order_by(Message.id)))
        for message_id in ids:
            try:
                self.replay(message_id)
            except UnreplayableMessage as exc:
                log.warning("cannot recover message %s: %s", message_id, exc)
        if ids:
            log.info("recovered %d messages left unprocessed by an earlier run", len(ids))
        return ids
