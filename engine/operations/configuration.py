"""The configuration in force as an operator may see it: channels, destinations and routes with every
secret masked, when their files last changed, and what ``config check`` says of the file now."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.config.engine_config import EngineConfig, RouteConfig, load_engine_config
from foundation.yaml_files import ConfigError

#: An option whose key holds one of these words is a secret: its value is never shown.
SECRET_WORDS = ("key", "secret", "password", "token", "api_key", "authorization", "credential")
#: What stands in for a secret that is set.
MASK = "••••"
#: What stands in for a secret that is not set (so an operator sees why a destination is off).
UNSET = "(not set)"
#: ``scheme://user:password@host``: the password part of a URL is a secret too.
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@:\s]*:)[^/@\s]+@", re.I)
#: The answer of a configuration check that found nothing wrong.
VALID = "valid"


def is_secret(key: str) -> bool:
    return any(word in str(key).lower() for word in SECRET_WORDS)


def masked(value: Any, key: str = "") -> Any:
    """``value`` with the value of every secret key (at any depth) masked, and passwords in URLs."""
    if is_secret(key) and not isinstance(value, (dict, list)):
        return MASK if value not in (None, "") else UNSET
    if isinstance(value, dict):
        return {k: masked(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if isinstance(value, str):
        return URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", value)
    return value


@dataclass(frozen=True)
class ConfigurationView:
    """What the configuration page shows."""

    channels: list[dict[str, Any]]
    destinations: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    #: (what, path, when it last changed or ``None``): the engine config and the mapping overrides.
    files: list[tuple[str, str, datetime | None]]
    #: ``valid``, or the problems ``config check`` finds in the file as it is now.
    check: str


def _changed(path: Path) -> datetime | None:
    """When the file, or the newest file under a folder, last changed."""
    try:
        stamps = [p.stat().st_mtime for p in path.rglob("*") if p.is_file()] if path.is_dir() else [
            path.stat().st_mtime]
    except OSError:
        return None
    return datetime.fromtimestamp(max(stamps), timezone.utc) if stamps else None


def check_config(path: Path, environ: dict[str, str] | None = None) -> str:
    """``config check`` on the file: :data:`VALID` or the problems, one a line."""
    try:
        load_engine_config(path, environ or None)
    except ConfigError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"
    return VALID


def _route(route: RouteConfig) -> dict[str, Any]:
    return {"name": route.name, "destinations": list(route.destinations), "enabled": route.enabled,
            "match": masked(route.match), "transform": masked(route.transform)}


def configuration_view(config: EngineConfig, routes: list[RouteConfig], active_destinations: set[str],
                       config_path: Path, environ: dict[str, str] | None = None) -> ConfigurationView:
    """The page's figures: ``routes`` are the router's (reloaded when the file changes), the rest as started."""
    channels = [{"name": c.name, "type": c.type, "enabled": c.enabled, "options": masked(c.options)}
                for c in config.channels]
    destinations = [{"name": d.name, "type": d.type, "active": d.name in active_destinations,
                     "options": masked(d.options), "retry": vars(d.retry)} for d in config.destinations]
    overrides = config_path.parent / "mappings"
    files = [("engine configuration", str(config_path), _changed(config_path))]
    if overrides.is_dir():
        files.append(("mapping overrides", str(overrides), _changed(overrides)))
    return ConfigurationView(channels, destinations, [_route(r) for r in routes], files,
                             check_config(config_path, environ))
