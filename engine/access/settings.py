"""Access settings from the environment: whether authentication is on, token and session
lifetimes, the login lock-out, who may scrape ``/metrics``, and how long the audit trail is kept."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from engine.config.environment import ENVIRONMENT_SOURCE, Settings
from foundation.yaml_files import ConfigError

#: Who may read ``/readyz`` and ``/metrics`` without a token unless configured: this machine.
DEFAULT_SCRAPER_NETWORKS = "127.0.0.0/8,::1/128"


def _number(environ, name: str, default: float) -> float:
    value = environ.get(name)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(ENVIRONMENT_SOURCE, [f" {name}: {value!r} is not a number"]) from None
    if number <= 0:
        raise ConfigError(ENVIRONMENT_SOURCE, [f" {name}: must be more than 0"])
    return number


@dataclass(frozen=True)
class AccessSettings:
    """Example: ``AccessSettings.from_settings(Settings.from_env())``."""

    enabled: bool = True
    #: Access tokens live this long (seconds).
    token_lifetime_seconds: int = 300
    #: The ``aud`` of the tokens this engine issues and accepts.
    audience: str = "carebridge"
    #: A shared signing key for access tokens; empty: one generated and kept in the database.
    token_signing_key: str = ""
    #: The public base URL (``https://bridge.example``), when a proxy in front changes it.
    public_url: str = ""
    session_idle_minutes: float = 30
    session_max_hours: float = 12
    #: Send the session cookie with ``Secure`` (on by default when the listener does TLS).
    secure_cookies: bool = False
    lockout_failures: int = 5
    lockout_minutes: float = 15
    scraper_networks: tuple = ()
    audit_retention_days: float = 2190  # six years, as HIPAA keeps its documentation

    @classmethod
    def from_settings(cls, settings: Settings) -> "AccessSettings":
        env = settings.environ
        auth = (env.get("CAREBRIDGE_AUTH") or "on").strip().lower()
        if auth not in ("on", "off"):
            raise ConfigError(ENVIRONMENT_SOURCE, [f" CAREBRIDGE_AUTH: {auth!r} is neither on nor off"])
        networks = []
        for part in (env.get("CAREBRIDGE_SCRAPER_NETWORKS", DEFAULT_SCRAPER_NETWORKS) or "").split(","):
            if part.strip():
                try:
                    networks.append(ipaddress.ip_network(part.strip(), strict=False))
                except ValueError:
                    raise ConfigError(ENVIRONMENT_SOURCE,
                                      [f" CAREBRIDGE_SCRAPER_NETWORKS: {part.strip()!r} is not a network"]) from None
        tls = bool(env.get("CAREBRIDGE_HTTP_TLS_CERT"))
        secure = (env.get("CAREBRIDGE_SECURE_COOKIES") or ("on" if tls else "off")).lower() in ("on", "true", "1")
        return cls(
            enabled=auth == "on",
            token_lifetime_seconds=int(_number(env, "CAREBRIDGE_TOKEN_LIFETIME_SECONDS", 300)),
            audience=env.get("CAREBRIDGE_TOKEN_AUDIENCE") or "carebridge",
            token_signing_key=env.get("CAREBRIDGE_TOKEN_SIGNING_KEY") or "",
            public_url=(env.get("CAREBRIDGE_PUBLIC_URL") or "").rstrip("/"),
            session_idle_minutes=_number(env, "CAREBRIDGE_SESSION_IDLE_MINUTES", 30),
            session_max_hours=_number(env, "CAREBRIDGE_SESSION_MAX_HOURS", 12),
            secure_cookies=secure,
            lockout_failures=int(_number(env, "CAREBRIDGE_LOGIN_LOCKOUT_FAILURES", 5)),
            lockout_minutes=_number(env, "CAREBRIDGE_LOGIN_LOCKOUT_MINUTES", 15),
            scraper_networks=tuple(networks),
            audit_retention_days=_number(env, "CAREBRIDGE_AUDIT_RETENTION_DAYS", 2190),
        )

    def may_scrape(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self.scraper_networks)
