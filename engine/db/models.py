"""The engine's records: inbound messages, FHIR resources with history and search index,
the delivery outbox, cross-references to destination ids, and the sync log.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, LargeBinary, String, Text, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: An auto-incrementing key: BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite.
BigId = BigInteger().with_variant(Integer, "sqlite")


#: The largest id a record can have (a signed 64-bit integer, on SQLite and PostgreSQL alike).
MAX_RECORD_ID = 2**63 - 1


def is_record_id(value: object) -> bool:
    """Whether ``value`` can be a record's id: an int, or ASCII digits, from 1 to :data:`MAX_RECORD_ID`.
    (``"²".isdigit()`` is true and a 25-digit id overflows the database: both are refused here.)"""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            return False
        value = int(value)
    return isinstance(value, int) and 1 <= value <= MAX_RECORD_ID


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always read back timezone-aware, on SQLite too."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; Carebridge stores UTC-aware times only")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    pass


#: The content type of stored HL7 v2 messages (and of the HL7 files that held them).
HL7_CONTENT_TYPE = "application/hl7-v2"


class MessageStatus:
    RECEIVED = "received"
    MAPPED = "mapped"
    UNSUPPORTED = "unsupported"
    ERROR = "error"
    #: From a sender the channel does not accept (network, MSH-3/MSH-4): kept, never processed.
    REFUSED = "refused"


class Message(Base):
    """An inbound unit exactly as received, kept whatever happens to it next."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(64), index=True)
    content_type: Mapped[str] = mapped_column(String(100), default=HL7_CONTENT_TYPE)
    sender: Mapped[str | None] = mapped_column(String(256))
    peer: Mapped[str | None] = mapped_column(String(128))
    control_id: Mapped[str | None] = mapped_column(String(199), index=True)
    message_type: Mapped[str | None] = mapped_column(String(32), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.RECEIVED, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: How many times the pipeline has processed this message (replays add one).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The name of the file this unit came in, for units from drop folders and SFTP.
    file_name: Mapped[str | None] = mapped_column(String(255))
    #: The HL7 acknowledgement the receiver sent for this message (MLLP, HTTP); null for files.
    ack: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # A file resumed after a crash is found by channel, content hash and name.
        Index("ix_messages_file", "channel", "sha256", "file_name"),
        # The console's message browser filters by channel and status, newest first.
        Index("ix_messages_channel_status", "channel", "status", "id"),
    )


class MessageResource(Base):
    """A resource an inbound message wrote (or found unchanged), so a message is found by the patient
    it was about and shows what it produced; replaced when the message is processed again."""

    __tablename__ = "message_resources"

    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The version the message made, or the current one it left unchanged.
    version_id: Mapped[int] = mapped_column(Integer)
    #: Whether the message changed the resource (a resend that changes nothing makes no version).
    changed: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (Index("ix_message_resources_resource", "resource_type", "resource_id", "message_id"),)


class ResourceRecord(Base):
    """The current version of a FHIR resource."""

    __tablename__ = "resources"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The resource as FHIR R4 JSON (with ``id`` and ``meta``); null once deleted.
    content: Mapped[str | None] = mapped_column(Text)
    #: The inbound message that last wrote this resource, if any.
    message_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_resources_type_updated", "resource_type", "last_updated"),
        # Search pages in (last updated, id) order by keyset.
        Index("ix_resources_type_updated_id", "resource_type", "last_updated", "id"),
    )


class ResourceVersion(Base):
    """Every version a resource has had, including deletions."""

    __tablename__ = "resource_versions"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: ``create``, ``update`` or ``delete``.
    method: Mapped[str] = mapped_column(String(8))
    content: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[int | None] = mapped_column(BigInteger, index=True)


class SearchToken(Base):
    """A token search value (identifier, code, status) of a current resource."""

    __tablename__ = "search_tokens"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    system: Mapped[str | None] = mapped_column(String(255))
    code: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_search_tokens_lookup", "resource_type", "param", "code", "system"),
        Index("ix_search_tokens_owner", "resource_type", "resource_id"),
    )


class SearchString(Base):
    """A string search value, normalised (case and accents folded) for prefix search."""

    __tablename__ = "search_strings"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(255))
    #: The value as the resource has it (cut to the column), for the ``:exact`` modifier.
    exact: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_search_strings_lookup", "resource_type", "param", "value"),
        Index("ix_search_strings_owner", "resource_type", "resource_id"),
        # Prefix search reads only this index: LIKE 'x%' on PostgreSQL needs pattern ops
        # whatever the database's collation; resource_id makes it covering.
        Index("ix_search_strings_prefix", "resource_type", "param", "value", "resource_id",
              postgresql_ops={"value": "varchar_pattern_ops"}),
    )


class SearchDate(Base):
    """A date search value as the instant range it covers."""

    __tablename__ = "search_dates"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    low: Mapped[datetime | None] = mapped_column(UTCDateTime)
    high: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_search_dates_lookup", "resource_type", "param", "low", "high"),
        Index("ix_search_dates_owner", "resource_type", "resource_id"),
    )


class SearchReference(Base):
    """A reference search value: the resource this one points at."""

    __tablename__ = "search_references"

    pk: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    param: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_search_references_lookup", "resource_type", "param", "target_id", "target_type"),
        Index("ix_search_references_target", "target_type", "target_id"),
        Index("ix_search_references_owner", "resource_type", "resource_id"),
    )


class DeliveryStatus:
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    FAILED = "failed"
    #: A newer version of the same resource to the same destination replaced this one.
    SUPERSEDED = "superseded"
    #: The destination cannot take this change (e.g. a delete it has no way to carry out); the reason says which.
    SKIPPED = "skipped"

    FINAL = (DELIVERED, FAILED, SUPERSEDED, SKIPPED)


class Delivery(Base):
    """The outbox: one row per resource version per destination."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    destination: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(64))
    resource_version: Mapped[int] = mapped_column(Integer)
    #: Deliveries sharing a key (one patient's records) go to a destination one at a time, in id order.
    order_key: Mapped[str] = mapped_column(String(200))
    #: ``automatic`` (a route), ``manual`` (an operator's resync) or ``retry`` (an operator's retry).
    origin: Mapped[str] = mapped_column(String(16), default="automatic")
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When a worker's claim on an in-flight delivery runs out.
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the delivery was last put on the queue (the sweeper does not queue it twice).
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    remote_id: Mapped[str | None] = mapped_column(String(255))
    #: The route that planned this delivery (its transforms apply when it is sent); null for dependencies and resyncs.
    route: Mapped[str | None] = mapped_column(String(64))
    #: The delivery this one waits for (what it references must reach the destination first).
    waiting_for: Mapped[int | None] = mapped_column(BigInteger, index=True)
    #: How many times an operator has retried it; part of the idempotency key, so a retry is a new request.
    operator_retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_order", "destination", "order_key", "status", "id"),
        Index("ix_deliveries_resource", "resource_type", "resource_id"),
    )


class CrossReference(Base):
    """A local resource's id at a destination, e.g. a patient's Carepatron client id."""

    __tablename__ = "cross_references"

    destination: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    local_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    remote_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SyncAction:
    AUTOMATIC = "automatic"
    MANUAL = "manual"
    RETRY = "retry"


class SyncLogEntry(Base):
    """One delivery attempt or operator action, for the patient's synchronisation log."""

    __tablename__ = "sync_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    destination: Mapped[str] = mapped_column(String(64))
    patient_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    resource_ref: Mapped[str] = mapped_column(String(200), index=True)
    document_ref: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    #: The delivery's attempt number this row accounts for; null for operator actions and supersessions.
    attempt: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


# Access: who may call the engine, and the audit trail of what they did --------------------


class ApiClient(Base):
    """An OAuth2 client of the FHIR API and ``POST /hl7``: a secret (stored hashed) or a JWKS."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    #: SHA-256 of the client secret (a random 256-bit string, so a slow hash adds nothing).
    secret_hash: Mapped[str | None] = mapped_column(String(128))
    #: The client's public keys (a JWKS document) for ``private_key_jwt``.
    jwks: Mapped[str | None] = mapped_column(Text)
    #: The scopes the client may be granted, space separated.
    scopes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(Base):
    """A person who uses the console or the admin API, with one role."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: argon2id of the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Set for a generated first password: the console asks for a new one before anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Bumped by sign-out, password change and disabling: sessions of an older epoch are void.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PersonalToken(Base):
    """A user's token for the admin API (``Authorization: Bearer cbp_...``), stored hashed."""

    __tablename__ = "personal_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsedAssertion(Base):
    """A ``private_key_jwt`` assertion's ``jti``, kept until it expires so it cannot be replayed."""

    __tablename__ = "used_assertions"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class EngineSecret(Base):
    """Key material every process of one engine shares (token signing, session cookies)."""

    __tablename__ = "engine_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditRecord(Base):
    """One access to PHI or one login, PHI-free: who, what (type and id, or parameter names), outcome."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    recorded: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: ``client``, ``user`` or ``anonymous``.
    agent_kind: Mapped[str] = mapped_column(String(16))
    #: The client id or user name.
    agent: Mapped[str] = mapped_column(String(128), index=True)
    #: FHIR's AuditEvent.action: C, R, U, D or E.
    action: Mapped[str] = mapped_column(String(1), index=True)
    #: What was done: read, search-type, create, replay, login ...
    subtype: Mapped[str] = mapped_column(String(32))
    #: The surface: fhir, admin, console, hl7, auth.
    surface: Mapped[str] = mapped_column(String(16))
    entity_type: Mapped[str | None] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(128))
    #: A search's parameter names, comma separated, never their values.
    query: Mapped[str | None] = mapped_column(String(1000))
    #: FHIR's AuditEvent.outcome: 0 success, 4 minor failure (refused), 8 serious failure.
    outcome: Mapped[str] = mapped_column(String(2), index=True)
    #: A short reason for a failure (``status 403``, ``locked``); never patient data.
    detail: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id"),)
