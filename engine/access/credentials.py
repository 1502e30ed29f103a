"""Secrets: argon2id for passwords (argon2-cffi), SHA-256 for the random tokens and client secrets
Carebridge generates (256 bits of entropy: a slow hash adds nothing), and the key material all
processes of one engine share, kept in the database."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from engine.db.database import Database
from engine.db.models import EngineSecret

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so that a missing user costs what a wrong password does.
_DUMMY_HASH = _hasher.hash("carebridge-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(stored: str | None, secret: str) -> bool:
    return stored is not None and hmac.compare_digest(stored, digest(secret))


def shared_secret(database: Database, name: str) -> str:
    """The engine-wide secret ``name``, made on first use; every process reads the same one."""
    with database.read() as session:
        found = session.get(EngineSecret, name)
        if found is not None:
            return found.value
    try:
        with database.write() as session:
            session.add(EngineSecret(name=name, value=secrets.token_urlsafe(48)))
    except IntegrityError:
        pass  # another process made it first
    with database.read() as session:
        return session.get(EngineSecret, name).value
