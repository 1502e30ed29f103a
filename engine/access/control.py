"""One engine's access control: its settings, token issuer, clients, users and audit trail, built
once by the runtime and used by every surface (HTTP guard, console, CLI)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from engine.access.audit import AuditLog
from engine.access.clients import ClientRegistry
from engine.access.settings import AccessSettings
from engine.access.tokens import AccessTokens
from engine.access.users import UserDirectory
from engine.config.environment import Settings
from engine.db.database import Database
from foundation.errors import CarebridgeError


class UnsafeAuthSetting(CarebridgeError):
    """``CAREBRIDGE_AUTH=off`` on an engine that listens beyond loopback."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class AccessControl:
    settings: AccessSettings
    tokens: AccessTokens
    clients: ClientRegistry
    users: UserDirectory
    audit: AuditLog

    @classmethod
    def build(cls, settings: Settings, database: Database) -> "AccessControl":
        access = AccessSettings.from_settings(settings)
        return cls(access, AccessTokens(database, access), ClientRegistry(database),
                   UserDirectory(database, access), AuditLog(database, access.audit_retention_days))

    @property
    def enabled(self) -> bool:
        return self.settings.enabled


def check_auth_off_is_safe(access: AccessSettings, listen_hosts: list[str]) -> None:
    """Authentication may be off only when every listener binds a loopback address."""
    if access.enabled:
        return
    exposed = sorted({h for h in listen_hosts if not is_loopback(h)})
    if exposed:
        raise UnsafeAuthSetting(
            f"CAREBRIDGE_AUTH=off is accepted only when every listener binds a loopback address; "
            f"{', '.join(exposed)} is not loopback: turn authentication on or bind 127.0.0.1")
