"""Keeps every inbound unit exactly as received, before anything else happens to it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.db.database import Database
from engine.db.models import HL7_CONTENT_TYPE, Message, MessageStatus, utcnow
from mappings.v2.header import MessageHeader, read_header_or_reason

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
                  status: str | None = None, error: str | None = None,
                  header: MessageHeader | None = None, header_error: str | None = None) -> StoredMessage:
        """Commit an HL7 v2 message as received; a message without a readable MSH is kept with status ``error``.

        ``header`` (or ``header_error``, why it could not be read) is the MSH the caller read;
        without either, it is read here.
        """
        if header is None and header_error is None:
            header, header_error = read_header_or_reason(raw)
        message = Message(
            channel=channel, content_type=HL7_CONTENT_TYPE, peer=peer,
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

    def store_file(self, raw: bytes, channel: str, *, content_type: str, file_name: str,
                   kind: str | None = None, peer: str | None = None, size: int | None = None,
                   status: str = MessageStatus.RECEIVED, error: str | None = None) -> int:
        """Commit a file (not HL7 v2) as received with its detected content type; returns the message id.

        ``size`` is the file's real size when ``raw`` is not all of it (a file over the limit is
        recorded without its bytes, which stay on disk in ``error/``).
        """
        message = Message(
            channel=channel, content_type=content_type[:100], peer=peer, message_type=kind and kind[:32],
            sha256=hashlib.sha256(raw).hexdigest(), size=len(raw) if size is None else size, raw=raw,
            status=status, error=error[:MAX_ERROR_DETAIL] if error else None,
            received_at=utcnow(), file_name=file_name[:255],
        )
        with self.database.write() as session:
            session.add(message)
            session.flush()
            return message.id

    def find_file(self, channel: str, sha256: str, file_name: str) -> Message | None:
        """The latest message stored for this file on this channel (a crash-resumed file is not stored twice)."""
        with self.database.read() as session:
            return session.scalars(
                select(Message).where(Message.channel == channel, Message.sha256 == sha256,
                                      Message.file_name == file_name[:255])
                .order_by(Message.id.desc()).limit(1)).first()

    def messages_from_file(self, channel: str, file_message_id: int) -> list[Message]:
        """The HL7 messages already received out of one stored batch file (``peer`` is ``file:<id>#<n>``)."""
        with self.database.read() as session:
            return list(session.scalars(
                select(Message).where(Message.channel == channel,
                                      Message.peer.like(f"file:{file_message_id}#%")).order_by(Message.id)))

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
