"""Reads the mapping configs from disk: the shipped ones and each channel's overrides,
validates every file against the JSON Schema, keeps the last good version of a file that
became invalid, and merges a channel's overrides onto the shipped configs.

Merge rule (same for every kind): an override file has the same ``kind`` and ``name`` as
the shipped one; its ``fields`` replace shipped fields key by key (``null`` removes one),
its table entries replace entries, a message's resources are matched by ``id``, and any
other key it gives replaces the shipped value. A name the shipped set lacks is added.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from pathlib import Path

from foundation.settled_edits import EditSettling, Stamp, file_stamp
from foundation.yaml_files import ConfigError, load_schema, load_yaml, validate

logger = logging.getLogger(__name__)

#: The JSON Schema every mapping config file is validated against.
SCHEMA_PATH = Path(__file__).parent / "schema" / "mapping-config.schema.json"


@dataclass
class ConfigDocument:
    """One valid config file: its data and the line of each key (for error messages)."""

    path: Path
    data: dict
    lines: dict[tuple, int]
    mtime: float

    def line(self, where: tuple) -> int:
        while where not in self.lines and where:
            where = where[:-1]
        return self.lines.get(where, 1)


@dataclass
class DirectoryState:
    """The documents of one directory: the last good version of each file, and the problems found."""

    documents: dict[Path, ConfigDocument] = field(default_factory=dict)
    problems: dict[Path, list[str]] = field(default_factory=dict)
    stamps: dict[Path, Stamp] = field(default_factory=dict)
    #: Edited files wait here until they stop changing.
    settling: EditSettling = field(default_factory=EditSettling)


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def read_document(path: Path, schema: dict) -> ConfigDocument:
    """Load and validate one file; raise :class:`ConfigError` with file, line and key path."""
    located = load_yaml(path)
    if not isinstance(located.data, dict):
        raise ConfigError(path, ["1: (top level): a mapping config is a YAML mapping with kind and name"])
    validate(located, schema, path)
    return ConfigDocument(path, located.data, located.lines, path.stat().st_mtime)


def refresh(directory: Path, state: DirectoryState, schema: dict, settle: bool = True) -> bool:
    """Re-read files whose stamp changed and has since held still (``settle=False``: at once,
    for the first load); an invalid file keeps its last good version (and is reported).
    Return whether anything in force changed."""
    changed = False
    files = _yaml_files(directory)
    for gone in set(state.stamps) - set(files):
        state.stamps.pop(gone, None)
        state.problems.pop(gone, None)
        state.settling.forget(gone)
        changed |= state.documents.pop(gone, None) is not None
    for path in files:
        stamp = file_stamp(path)
        if stamp is None or state.stamps.get(path) == stamp:
            continue
        if settle and not state.settling.held_still(path, stamp):
            continue
        state.stamps[path] = stamp
        try:
            state.documents[path] = read_document(path, schema)
            state.problems.pop(path, None)
            changed = True
        except ConfigError as exc:
            state.problems[path] = [f"{exc.path}:{p}" for p in exc.problems]
            kept = "the last good version stays in force" if path in state.documents else "the file is not used"
            for problem in state.problems[path]:
                logger.error("mapping config refused: %s (%s)", problem, kept)
    return changed


def load_schema_once(partial: bool = False) -> dict:
    """The mapping config schema; ``partial`` for override files, which say only what they
    change (no ``handles``, ``resource`` or ``map`` required), but still only valid keys."""
    schema = load_schema(SCHEMA_PATH)
    if partial:
        for name in ("message", "segment_map", "code_table"):
            schema["$defs"][name].pop("required", None)
        schema["$defs"]["resource"]["required"] = ["id"]
    return schema


@dataclass
class MergedConfig:
    """A config after overrides: its data and, for each field, the file and key path it came
    from (``sources[("fields", "telecom")] == ("config/mappings/north/pid.yaml", ("fields", "telecom"))``)."""

    kind: str
    name: str
    data: dict
    sources: dict[tuple, tuple[str, tuple]]


def _record_fields(sources: dict, logical: tuple, fields: dict, origin: str, where: tuple) -> None:
    for key in fields:
        sources[logical + (key,)] = (origin, where + (key,))


def merge(documents: list[ConfigDocument]) -> dict[tuple[str, str], MergedConfig]:
    """Merge documents in order (shipped first, then a channel's overrides) by (kind, name)."""
    merged: dict[tuple[str, str], MergedConfig] = {}
    for document in documents:
        data, origin = document.data, str(document.path)
        key = (data["kind"], data["name"])
        current = merged.get(key)
        if current is None:
            current = merged[key] = MergedConfig(data["kind"], data["name"], {"kind": data["kind"], "name": data["name"]}, {})
            current.sources[("document",)] = (origin, ())
        for item, value in data.items():
            if item == "fields":
                current.data.setdefault("fields", {}).update(copy.deepcopy(value))
                _record_fields(current.sources, ("fields",), value, origin, ("fields",))
            elif item in ("map", "dropped", "authority_systems"):
                current.data.setdefault(item, {}).update(copy.deepcopy(value))
            elif item == "resources":
                by_id = {r["id"]: r for r in current.data.setdefault("resources", [])}
                for index, resource in enumerate(value):
                    target = by_id.get(resource["id"])
                    if target is None:
                        target = {"id": resource["id"]}
                        current.data["resources"].append(target)
                        current.sources[("resources", resource["id"])] = (origin, ("resources", index))
                    for r_key, r_value in resource.items():
                        if r_key == "fields":
                            target.setdefault("fields", {}).update(copy.deepcopy(r_value))
                            _record_fields(current.sources, ("resources", resource["id"], "fields"), r_value,
                                           origin, ("resources", index, "fields"))
                        elif r_key == "dropped":
                            target.setdefault("dropped", {}).update(r_value)
                        else:
                            target[r_key] = copy.deepcopy(r_value)
            elif item not in ("kind", "name"):
                current.data[item] = copy.deepcopy(value)
    return merged


def describe(documents: list[ConfigDocument], origin: str, where: tuple, message: str) -> str:
    """``file:line: dotted.path: message`` for a problem found while compiling."""
    document = next((d for d in documents if str(d.path) == origin), None)
    line = document.line(where) if document else 1
    dotted = ".".join(str(p) for p in where) or "(top level)"
    return f"{origin}:{line}: {dotted}: {message}"
