"""API clients of the FHIR API and ``POST /hl7``: registered by an admin (``carebridge clients add``),
authenticated at the token endpoint by a secret (``client_secret_basic``, ``client_secret_post``)
or, as SMART Backend Services asks, by a JWT it signed with a key of its registered JWKS
(``private_key_jwt``, RS384 or ES384; ``jti`` kept until ``exp`` so an assertion serves once)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import jwt
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from engine.access.credentials import digest, new_secret, same_digest
from engine.access.scopes import Grant, parse_scopes
from engine.db.database import Database
from engine.db.models import ApiClient, UsedAssertion, utcnow
from foundation.errors import CarebridgeError

#: The ``client_assertion_type`` of ``private_key_jwt``.
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: What a client may sign its assertion with.
ASSERTION_ALGORITHMS = ("RS384", "ES384")
#: SMART: an assertion's ``exp`` is no more than five minutes ahead.
MAX_ASSERTION_SECONDS = 300


class ClientAuthError(CarebridgeError):
    """A token request whose client cannot be authenticated (OAuth2 ``invalid_client``)."""


class UnknownClient(CarebridgeError):
    """No client has that id (or name)."""


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    name: str
    scopes: str
    #: ``secret`` or ``private_key_jwt``.
    authentication: str
    created_at: datetime
    revoked: bool

    @property
    def grant(self) -> Grant:
        return Grant.from_text(self.scopes)

    def as_dict(self) -> dict:
        return {"client_id": self.client_id, "name": self.name, "scope": self.scopes,
                "authentication": self.authentication, "created": self.created_at.isoformat(),
                "revoked": self.revoked}


def _registered(row: ApiClient) -> RegisteredClient:
    return RegisteredClient(row.client_id, row.name, row.scopes, "private_key_jwt" if row.jwks else "secret",
                            row.created_at, row.revoked_at is not None)


def _check_jwks(jwks: dict) -> str:
    try:
        keys = jwt.PyJWKSet.from_dict(jwks).keys
    except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the JWKS holds no usable public key ({type(exc).__name__})") from None
    if any(getattr(key.key, "private_numbers", None) for key in keys):
        raise ValueError("the JWKS holds a private key: register the public keys only")
    return json.dumps(jwks)


class ClientRegistry:
    """The API clients of one engine."""

    def __init__(self, database: Database):
        self.database = database

    def add(self, name: str, scopes: str, jwks: dict | None = None) -> dict:
        """Register a client; the answer holds its secret (shown this once) unless it has a JWKS."""
        parse_scopes(scopes)  # InvalidScope names what is wrong
        client_id = "c-" + uuid.uuid4().hex[:20]
        secret = None if jwks else new_secret("cbs_")
        row = ApiClient(client_id=client_id, name=name, scopes=" ".join(scopes.split()),
                        secret_hash=digest(secret) if secret else None, jwks=_check_jwks(jwks) if jwks else None)
        with self.database.write() as session:
            session.add(row)
        answer = {"client_id": client_id, "name": name, "scope": row.scopes}
        if secret:
            answer["client_secret"] = secret
        else:
            answer["token_endpoint_auth_method"] = "private_key_jwt"
        return answer

    def list(self) -> list[RegisteredClient]:
        with self.database.read() as session:
            return [_registered(r) for r in session.scalars(select(ApiClient).order_by(ApiClient.id))]

    def revoke(self, name_or_id: str) -> RegisteredClient:
        with self.database.write() as session:
            rows = session.scalars(select(ApiClient).where(
                (ApiClient.client_id == name_or_id) | (ApiClient.name == name_or_id))).all()
            if not rows:
                raise UnknownClient(f"no client {name_or_id!r}")
            for row in rows:
                row.revoked_at = row.revoked_at or utcnow()
            return _registered(rows[0])

    def is_active(self, client_id: str) -> bool:
        with self.database.read() as session:
            row = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
            return row is not None and row.revoked_at is None

    def _active(self, client_id: str) -> ApiClient:
        with self.database.read() as session:
            row = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
        if row is None or row.revoked_at is not None:
            raise ClientAuthError("unknown or revoked client")
        return row

    def authenticate_secret(self, client_id: str, secret: str) -> RegisteredClient:
        row = self._active(client_id)
        if not same_digest(row.secret_hash, secret):
            raise ClientAuthError("the client secret is wrong")
        return _registered(row)

    def authenticate_assertion(self, assertion: str, token_urls: list[str]) -> RegisteredClient:
        """Check a ``private_key_jwt`` assertion against the client's JWKS; each ``jti`` serves once."""
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise ClientAuthError("the client assertion is not a JWT") from None
        if header.get("alg") not in ASSERTION_ALGORITHMS:
            raise ClientAuthError(f"the client assertion must be signed with {' or '.join(ASSERTION_ALGORITHMS)}")
        client_id = unverified.get("iss")
        if not isinstance(client_id, str) or unverified.get("sub") != client_id:
            raise ClientAuthError("the client assertion's iss and sub must both be the client id")
        row = self._active(client_id)
        if not row.jwks:
            raise ClientAuthError("this client authenticates with a secret, not a signed assertion")
        key = _signing_key(json.loads(row.jwks), header)
        try:
            claims = jwt.decode(assertion, key, algorithms=[header["alg"]], audience=token_urls,
                                options={"require": ["exp", "iss", "sub", "aud", "jti"]}, leeway=5)
        except jwt.ExpiredSignatureError:
            raise ClientAuthError("the client assertion has expired") from None
        except jwt.InvalidAudienceError:
            raise ClientAuthError("the client assertion's aud must be this token endpoint's URL") from None
        except jwt.PyJWTError:
            raise ClientAuthError("the client assertion's signature or claims are not valid") from None
        if claims["exp"] > time.time() + MAX_ASSERTION_SECONDS + 5:
            raise ClientAuthError("the client assertion's exp is more than five minutes ahead")
        self._use_once(client_id, str(claims["jti"]), int(claims["exp"]))
        return _registered(row)

    def _use_once(self, client_id: str, jti: str, exp: int) -> None:
        now = utcnow()
        try:
            with self.database.write() as session:
                session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))
                session.add(UsedAssertion(client_id=client_id, jti=jti[:255],
                                          expires_at=datetime.fromtimestamp(exp, timezone.utc)))
        except IntegrityError:
            raise ClientAuthError("the client assertion's jti was used before") from None


def _signing_key(jwks: dict, header: dict):
    keys = jwt.PyJWKSet.from_dict(jwks).keys
    kid = header.get("kid")
    candidates = [k for k in keys if kid is None or k.key_id == kid]
    if len(candidates) != 1:
        raise ClientAuthError("no single key of the client's JWKS matches the assertion's kid")
    return candidates[0]
