"""Access tokens: short-lived JWTs (HS256) this engine signs at ``POST /auth/token`` and checks on
every request. Only the engine verifies them, so a shared key is enough; it comes from
``CAREBRIDGE_TOKEN_SIGNING_KEY`` or is made once and kept in the database for every process."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from functools import lru_cache

import jwt

from engine.access.credentials import shared_secret
from engine.access.scopes import Grant, InvalidScope
from engine.access.settings import AccessSettings
from engine.db.database import Database
from foundation.errors import CarebridgeError

#: Who signs the tokens.
ISSUER = "carebridge"
ALGORITHM = "HS256"


class InvalidToken(CarebridgeError):
    """A bearer token that is not one of ours, expired, tampered with or for another audience."""


@dataclass(frozen=True)
class AccessClaims:
    client_id: str
    grant: Grant
    expires_at: int


@lru_cache(maxsize=1024)
def _grant(scope: str) -> Grant:
    return Grant.from_text(scope)


class AccessTokens:
    """Issues and checks access tokens. Example::

        token = tokens.issue("c-1234", grant)["access_token"]
        tokens.verify(token).grant.allows("Patient", "r")
    """

    def __init__(self, database: Database, settings: AccessSettings):
        self.database = database
        self.settings = settings
        self._key: str | None = settings.token_signing_key or None

    @property
    def key(self) -> str:
        if self._key is None:
            self._key = shared_secret(self.database, "token-signing-key")
        return self._key

    def issue(self, client_id: str, grant: Grant) -> dict:
        now = int(time.time())
        lifetime = self.settings.token_lifetime_seconds
        claims = {"iss": ISSUER, "sub": client_id, "aud": self.settings.audience, "iat": now, "nbf": now,
                  "exp": now + lifetime, "jti": uuid.uuid4().hex, "scope": grant.text}
        return {"access_token": jwt.encode(claims, self.key, algorithm=ALGORITHM), "token_type": "bearer",
                "expires_in": lifetime, "scope": grant.text}

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(token, self.key, algorithms=[ALGORITHM], audience=self.settings.audience,
                                issuer=ISSUER, options={"require": ["exp", "sub", "aud", "iss", "scope"]},
                                leeway=5)
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the access token has expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the access token is for another audience") from None
        except jwt.PyJWTError:
            raise InvalidToken("the access token is not valid") from None
        try:
            grant = _grant(str(claims["scope"]))
        except InvalidScope:
            raise InvalidToken("the access token's scopes are not valid") from None
        return AccessClaims(str(claims["sub"]), grant, int(claims["exp"]))
