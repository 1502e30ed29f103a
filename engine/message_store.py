"""Keeps every inbound unit exactly as received, before anything else happens to it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from engine.db import Database
from engine.models import Message, MessageStatus, utcnow
from mappings.errors import MappingError
from mappings.hl7_header import MessageHeader, read_header

#: Longest error detail kept on a message.
MAX_ERROR_DETAIL = 2000


@dataclass(frozen=True)
class StoredMessage:
    id: int
    header: MessageHeader | None
    #: Why the header could not be read (the message is stored with status ``error``).
    header_error: str | None = None


class MessageStore:
    """Stores raw inbound messages and records what became of them."""

    def __init__(self, database: Database):
        self.database = database

    def store_hl7(self, raw: bytes, channel: str, *, peer: str | None = None,
                  status: str | None = None, error: str | None = None) -> StoredMessage:
        """Commit an HL7 v2 message as received; a message without a readable MSH is kept with status ``error``."""
        header, header_error = None, None
        try:
            header = read_header(raw)
        except MappingError as exc:
            header_error = str(exc)
        message = Message(
            channel=channel, content_type="application/hl7-v2", peer=peer,
            sender=header.sender[:256] if header else None,
            control_id=header.control_id[:199] if header else None,
            message_type=header.message_type[:32] if header else None,
            sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), raw=raw,
            status=status or (MessageStatus.ERROR if header_error else MessageStatus.RECEIVED),
            error=(error or header_error or None) and (error or header_error)[:MAX_ERROR_DETAIL],
            received_at=utcnow(),
        )
        with self.database.write() as session:
            session.add(message)
            session.flush()
            message_id = message.id
        return StoredMessage(message_id, header, header_error or error)

    @staticmethod
    def mark(session: Session, message_id: int, status: str, error: str | None = None) -> None:
        message = session.get(Message, message_id)
        message.status = status
        message.error = error[:MAX_ERROR_DETAIL] if error else None
        message.processed_at = utcnow()
        message.attempts = (message.attempts or 0) + 1

    def get(self, message_id: int) -> Message | None:
        with self.database.read() as session:
            return session.get(Message, message_id)
