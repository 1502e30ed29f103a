"""The engine configuration (channels, destinations, routes) as typed records, loaded and checked at start."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config.locations import schema_path
from engine.config.route_criteria import compile_criterion, where_expressions
from foundation.yaml_files import ConfigError, load_config_file, load_schema, load_yaml, validate


#: The sections whose items each have a type with keys of its own, and what an item is called.
SECTIONS = {"channels": "channel", "destinations": "destination"}


@dataclass(frozen=True)
class RetryPolicyConfig:
    max_attempts: int = 12
    max_age_seconds: float = 86400.0
    min_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 600.0


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.options.get("enabled", True)


@dataclass(frozen=True)
class DestinationConfig:
    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)
    retry: RetryPolicyConfig = RetryPolicyConfig()

    @property
    def enabled(self) -> bool:
        return self.options.get("enabled", True)


@dataclass(frozen=True)
class RouteConfig:
    name: str
    destinations: tuple[str, ...]
    match: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    #: Changes made before sending: ``drop`` (element paths), ``tags`` and ``identifiers`` to add.
    transform: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineConfig:
    """The validated contents of ``config/engine.yaml``."""

    source: str
    authority_systems: dict[str, str]
    default_system: str
    channels: tuple[ChannelConfig, ...]
    destinations: tuple[DestinationConfig, ...]
    routes: tuple[RouteConfig, ...]

    def channel(self, name: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.name == name), None)

    def destination(self, name: str) -> DestinationConfig | None:
        return next((d for d in self.destinations if d.name == name), None)


def _cross_check(data: dict[str, Any], lines: dict[tuple, int]) -> list[str]:
    """What the schema cannot say: unique names, routes naming destinations that exist, FHIRPath that compiles."""
    problems = []
    for section in ("channels", "destinations", "routes"):
        seen: set[str] = set()
        for i, item in enumerate(data.get(section) or []):
            if item["name"] in seen:
                problems.append(f"{lines.get((section, i, 'name'), 1)}: {section}.{i}.name: duplicate name {item['name']!r}")
            seen.add(item["name"])
    destination_names = {d["name"] for d in data.get("destinations") or []}
    for i, route in enumerate(data.get("routes") or []):
        for j, name in enumerate(route["destinations"]):
            if name not in destination_names:
                problems.append(f"{lines.get(('routes', i, 'destinations', j), 1)}: routes.{i}.destinations.{j}: "
                                f"no destination named {name!r}")
        problems += _fhirpath_problems(route, i, lines)
    return problems


def _fhirpath_problems(route: dict[str, Any], index: int, lines: dict[tuple, int]) -> list[str]:
    """A route's FHIRPath criteria that do not compile, by file line and path."""
    where = (route.get("match") or {}).get("where")
    problems = []
    for j, expression in enumerate(where_expressions(route.get("match") or {})):
        at = ("routes", index, "match", "where") + (() if isinstance(where, str) else (j,))
        try:
            compile_criterion(expression)
        except ValueError as exc:
            problems.append(f"{lines.get(at, lines.get(at[:4], 1))}: {'.'.join(map(str, at))}: "
                            f"not valid FHIRPath ({exc})")
    return problems


def keys_by_type(schema: dict[str, Any], section: str) -> dict[str, frozenset[str]]:
    """The keys each type of channel or destination takes, as the schema lists them (``propertyNames``)."""
    table = {}
    for rule in schema["properties"][section]["items"].get("allOf", []):
        kind = rule.get("if", {}).get("properties", {}).get("type", {}).get("const")
        keys = rule.get("then", {}).get("propertyNames", {}).get("enum")
        if kind and keys:
            table[kind] = frozenset(keys)
    return table


def _unknown_keys(located, schema: dict[str, Any], path: str | Path) -> list[str]:
    """Keys a channel or destination of its type does not take, by line and path; they are taken out of
    ``located`` so the schema check that follows reports only the other problems."""
    problems = []
    text_lines: list[str] | None = None
    data = located.data if isinstance(located.data, dict) else {}
    for section, noun in SECTIONS.items():
        table = keys_by_type(schema, section)
        items = data.get(section)
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict) or not isinstance(item.get("type"), str) or item["type"] not in table:
                continue  # no type, or an unknown one: the schema says so
            known = table[item["type"]]
            for key in [k for k in item if k not in known]:
                if text_lines is None:
                    text_lines = Path(path).read_text(encoding="utf-8").splitlines()
                line = _key_line(text_lines, key, located.lines.get((section, i), 1),
                                 located.lines.get((section, i, key), 1))
                near = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {near[0]}?" if near else ""
                listed = ", ".join(sorted(known - {"name", "type"}))
                problems.append(f"{line}: {section}.{i}.{key}: unknown key for {_article(item['type'])} "
                                f"{item['type']} {noun}{hint} (its keys: {listed})")
                del item[key]
    return problems


def _key_line(text_lines: list[str], key: str, item_line: int, value_line: int) -> int:
    """The line a key is written on: its value's line, or above it when the value is a block of its own."""
    pattern = re.compile(rf"^\s*(?:-\s+)?['\"]?{re.escape(str(key))}['\"]?\s*:")
    for number in range(value_line, item_line - 1, -1):
        if 0 < number <= len(text_lines) and pattern.match(text_lines[number - 1]):
            return number
    return value_line


def _article(kind: str) -> str:
    return "an" if kind in ("mllp", "http", "sftp") else "a"  # said letter by letter: "an MLLP channel"


def load_engine_config(path: str | Path, environ: dict[str, str] | None = None) -> EngineConfig:
    """Load, expand and validate an engine configuration; raise :class:`ConfigError` naming every bad key."""
    located = load_yaml(path, expand_env=True, environ=environ)
    schema = load_schema(schema_path())
    unknown = _unknown_keys(located, schema, path)
    try:
        data = validate(located, schema, path) or {}
    except ConfigError as exc:
        raise ConfigError(path, unknown + exc.problems) from None
    problems = unknown + _cross_check(data, located.lines)
    if problems:
        raise ConfigError(path, problems)
    systems = data.get("identifier_systems") or {}
    return EngineConfig(
        source=str(path),
        authority_systems=dict(systems.get("authorities") or {}),
        default_system=systems.get("default") or "urn:carebridge:authority:{authority}",
        channels=tuple(
            ChannelConfig(c["name"], c["type"], {k: v for k, v in c.items() if k not in ("name", "type")})
            for c in data.get("channels") or []
        ),
        destinations=tuple(
            DestinationConfig(
                d["name"], d["type"],
                {k: v for k, v in d.items() if k not in ("name", "type", "retry")},
                RetryPolicyConfig(**(d.get("retry") or {})),
            )
            for d in data.get("destinations") or []
        ),
        routes=tuple(
            RouteConfig(r["name"], tuple(r["destinations"]), dict(r.get("match") or {}), r.get("enabled", True),
                        dict(r.get("transform") or {}))
            for r in data.get("routes") or []
        ),
    )


__all__ = ["ConfigError", "EngineConfig", "load_engine_config", "load_config_file"]
