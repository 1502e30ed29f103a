"""People who use the console and the admin API: users with one role each, passwords hashed with
argon2id, a lock-out after repeated failed logins, and personal access tokens for scripts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from engine.access.credentials import digest, hash_password, new_secret, verify_password
from engine.access.settings import AccessSettings
from engine.db.database import Database
from engine.db.models import PersonalToken, User, utcnow
from foundation.errors import CarebridgeError

#: What each permission lets a user do.
PERMISSIONS = {
    "view": "dashboards and lists, no raw patient data",
    "raw": "raw messages and their patient data",
    "operate": "retry deliveries and resync patients",
    "replay": "replay messages",
    "integrate": "mapping configs and dry runs",
    "admin": "users and API clients",
}
#: The permissions of each role.
ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "integrator": frozenset({"view", "integrate", "replay"}),
    "operator": frozenset({"view", "raw", "operate", "replay"}),
    "viewer": frozenset({"view"}),
}
#: The user a fresh engine makes for its first login.
BOOTSTRAP_ADMIN = "admin"
#: What a personal access token starts with, so the guard knows it from a JWT.
PERSONAL_TOKEN_PREFIX = "cbp_"
#: Shortest password a user may choose.
MIN_PASSWORD_LENGTH = 12


class UserError(CarebridgeError):
    """A user that cannot be added, changed or found as asked."""


class LoginRefused(CarebridgeError):
    """A failed login; ``locked`` when the account is locked, whatever the password."""

    def __init__(self, message: str, *, locked: bool = False):
        super().__init__(message)
        self.locked = locked


@dataclass(frozen=True)
class Person:
    """A signed-in user as requests see it."""

    id: int
    username: str
    role: str
    must_change_password: bool = False
    session_epoch: int = 0

    @property
    def permissions(self) -> frozenset[str]:
        return ROLES.get(self.role, frozenset())

    def may(self, permission: str) -> bool:
        return permission in self.permissions


def _person(user: User) -> Person:
    return Person(user.id, user.username, user.role, bool(user.must_change_password), user.session_epoch or 0)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


class UserDirectory:
    """The users of one engine. Example: ``users.add("dana", "operator", password)``."""

    def __init__(self, database: Database, settings: AccessSettings):
        self.database = database
        self.settings = settings

    def add(self, username: str, role: str, password: str, *, must_change: bool = False) -> Person:
        if role not in ROLES:
            raise UserError(f"no role {role!r}: one of {', '.join(ROLES)}")
        if not username or len(username) > 64 or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise UserError("a user name is 1 to 64 letters, digits, '.', '-' or '_'")
        check_password(password)
        with self.database.write() as session:
            if session.scalar(select(User).where(User.username == username)):
                raise UserError(f"user {username!r} exists")
            user = User(username=username, role=role, password_hash=hash_password(password),
                        must_change_password=must_change)
            session.add(user)
            session.flush()
            return _person(user)

    def count(self) -> int:
        with self.database.read() as session:
            return session.scalar(select(func.count()).select_from(User)) or 0

    def list(self) -> list[dict]:
        with self.database.read() as session:
            return [{"username": u.username, "role": u.role, "disabled": bool(u.disabled),
                     "locked": bool(u.locked_until and u.locked_until > utcnow()),
                     "last_login": u.last_login_at.isoformat() if u.last_login_at else None}
                    for u in session.scalars(select(User).order_by(User.id))]

    def _get(self, session, username: str) -> User:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise UserError(f"no user {username!r}")
        return user

    def disable(self, username: str) -> None:
        with self.database.write() as session:
            user = self._get(session, username)
            user.disabled = True
            user.session_epoch = (user.session_epoch or 0) + 1
            for token in session.scalars(select(PersonalToken).where(PersonalToken.user_id == user.id,
                                                                     PersonalToken.revoked_at.is_(None))):
                token.revoked_at = utcnow()

    def set_password(self, username: str, password: str) -> Person:
        check_password(password)
        with self.database.write() as session:
            user = self._get(session, username)
            user.password_hash = hash_password(password)
            user.must_change_password = False
            user.failed_logins = 0
            user.locked_until = None
            user.session_epoch = (user.session_epoch or 0) + 1
            return _person(user)

    def end_sessions(self, user_id: int) -> None:
        with self.database.write() as session:
            user = session.get(User, user_id)
            if user is not None:
                user.session_epoch = (user.session_epoch or 0) + 1

    def login(self, username: str, password: str) -> Person:
        """The user, when the password is right and the account enabled and not locked."""
        now = utcnow()
        refusal: LoginRefused | None = None
        with self.database.write() as session:  # the failure count commits, so the refusal is raised after
            user = session.scalar(select(User).where(User.username == username))
            if user is not None and user.locked_until and user.locked_until > now:
                refusal = LoginRefused("the account is locked after repeated failed logins", locked=True)
            elif not verify_password(user.password_hash if user else None, password) or user.disabled:
                if user is not None and not user.disabled:
                    user.failed_logins = (user.failed_logins or 0) + 1
                    if user.failed_logins >= self.settings.lockout_failures:
                        user.locked_until = now + timedelta(minutes=self.settings.lockout_minutes)
                        user.failed_logins = 0
                refusal = LoginRefused("wrong user name or password")
            else:
                user.failed_logins = 0
                user.locked_until = None
                user.last_login_at = now
                person = _person(user)
        if refusal is not None:
            raise refusal
        return person

    def current(self, user_id: int, epoch: int) -> Person | None:
        """The user of a session, unless disabled or the session was ended."""
        with self.database.read() as session:
            user = session.get(User, user_id)
            if user is None or user.disabled or (user.session_epoch or 0) != epoch:
                return None
            return _person(user)

    def issue_token(self, username: str) -> str:
        token = new_secret(PERSONAL_TOKEN_PREFIX)
        with self.database.write() as session:
            user = self._get(session, username)
            if user.disabled:
                raise UserError(f"user {username!r} is disabled")
            session.add(PersonalToken(user_id=user.id, token_hash=digest(token)))
        return token

    def by_token(self, token: str) -> Person | None:
        with self.database.read() as session:
            row = session.scalar(select(PersonalToken).where(PersonalToken.token_hash == digest(token),
                                                             PersonalToken.revoked_at.is_(None)))
            user = session.get(User, row.user_id) if row else None
            if user is None or user.disabled:
                return None
            return _person(user)

    def ensure_admin(self, password: str | None) -> str | None:
        """On an engine without users, make ``admin``; the generated password is returned to show once."""
        if self.count():
            return None
        generated = password is None
        password = password or secrets.token_urlsafe(12)
        try:
            self.add(BOOTSTRAP_ADMIN, "admin", password, must_change=generated)
        except UserError:
            if self.count():
                return None  # another process made the first user meanwhile
            raise
        return password if generated else None


