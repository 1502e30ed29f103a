"""Loads the YAML files integrators and operators edit, checks them against a JSON Schema,
and reports a bad key by file, line and path so it can be fixed without guessing.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from foundation.errors import CarebridgeError

#: ``${NAME}`` or ``${NAME:-default}`` inside a string value, replaced from the environment. The
#: default may itself hold plain references: ``${CAREBRIDGE_DROP_DIR:-${CAREBRIDGE_VAR_DIR:-./var}/inbox}``.
_ENV_REFERENCE = re.compile(
    r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-((?:[^{}$]|\$(?!\{)|\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^{}]*)?\})*))?\}")


class ConfigError(CarebridgeError):
    """A configuration file is missing, not YAML, or does not match its schema."""

    def __init__(self, path: str | os.PathLike, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        super().__init__("\n".join(f"{self.path}:{p}" for p in problems))


@dataclass
class _Located:
    """YAML data plus the line of each node, so schema errors can name a line."""

    data: Any
    lines: dict[tuple, int]


def _construct(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node)) if not isinstance(key_node, yaml.ScalarNode) else key_node.value
            result[key] = _construct(value_node, path + (key,), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, path + (i,), lines) for i, item in enumerate(node.value)]
    # Scalars: PyYAML's safe constructor decides the type (int, bool, null, str, ...).
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _expand_env(value: Any, environ: dict[str, str]) -> Any:
    if isinstance(value, str):
        def replace(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            # A default's own references are expanded; a value from the environment never is.
            return environ.get(name) or (_ENV_REFERENCE.sub(replace, default) if default is not None else "")

        expanded = _ENV_REFERENCE.sub(replace, value)
        if expanded != value and _ENV_REFERENCE.fullmatch(value):
            # A value that is only a reference takes the type YAML would give it (ports are ints).
            try:
                return yaml.safe_load(expanded) if expanded != "" else None
            except yaml.YAMLError:
                return expanded
        return expanded
    if isinstance(value, dict):
        return {k: _expand_env(v, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, environ) for v in value]
    return value


def load_yaml(path: str | os.PathLike, *, expand_env: bool = False, environ: dict[str, str] | None = None) -> _Located:
    """Read one YAML document with the line number of every node."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f" cannot read: {exc.strerror}"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{mark.line + 1}" if mark else "1"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, [f"{where}: not valid YAML: {problem}"]) from None
    lines: dict[tuple, int] = {}
    data = _construct(node, (), lines) if node is not None else None
    if expand_env:
        data = _expand_env(data, dict(os.environ) if environ is None else environ)
    return _Located(data, lines)


def _line_for(lines: dict[tuple, int], path: tuple) -> int:
    while path not in lines and path:
        path = path[:-1]
    return lines.get(path, 1)


def load_schema(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def validate(located: _Located, schema: dict, source: str | os.PathLike) -> Any:
    """Check data against a JSON Schema; raise :class:`ConfigError` listing every problem by line and path."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(located.data), key=lambda e: list(map(str, e.absolute_path))):
        while error.context:
            # "not valid under any of the given schemas" says nothing an editor can act on;
            # the deepest error inside the oneOf/anyOf names the key actually wrong.
            error = max(error.context, key=lambda e: (len(e.absolute_path), e.validator not in ("type", "oneOf")))
        path = tuple(error.absolute_path)
        dotted = ".".join(str(p) for p in path) or "(top level)"
        problems.append(f"{_line_for(located.lines, path)}: {dotted}: {error.message}")
    if problems:
        raise ConfigError(source, problems)
    return located.data


def load_config_file(path: str | os.PathLike, schema: dict, *, expand_env: bool = False,
                     environ: dict[str, str] | None = None) -> Any:
    """Load a YAML file, expand ``${ENV}`` references if asked, and validate it against ``schema``."""
    located = load_yaml(path, expand_env=expand_env, environ=environ)
    return validate(located, schema, path)
