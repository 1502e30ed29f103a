"""Outbound field maps: how a FHIR resource becomes a destination's record, as YAML integrators edit.

Each value is a FHIRPath expression (fhirpathpy), compiled once when the map loads. Field
names of a destination live only in these files, never in engine code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from fhirpathpy import compile as compile_fhirpath

from engine.config_files import ConfigError, load_config_file, load_schema

#: The JSON Schema every field map must match.
SCHEMA_PATH = Path(__file__).resolve().parent / "field_map.schema.json"


class FieldMissing(Exception):
    """A field the destination requires has no value in the resource."""


class MissingReference(Exception):
    """A referenced resource has no id at the destination yet (deliver it first)."""

    def __init__(self, reference: str):
        self.reference = reference
        super().__init__(reference)


def _format(value: Any, fmt: str | None) -> Any:
    if fmt == "date" and isinstance(value, str):
        return value[:10]
    if fmt == "datetime-utc" and isinstance(value, str):
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    if fmt == "number" and value is not None:
        return float(value) if not isinstance(value, (int, float)) else value
    if fmt == "string" and value is not None:
        return str(value)
    return value


@dataclass
class _Value:
    name: str
    expression: Callable[[dict], list]
    required: bool = False
    values: dict[str, Any] | None = None
    default: Any = None
    reference: bool = False
    format: str | None = None

    def evaluate(self, resource: dict, remote_id_of: Callable[[str], str | None]) -> Any:
        results = [r for r in self.expression(resource) if r not in (None, "")]
        value = results[0] if results else self.default
        if hasattr(value, "isoformat") or type(value).__name__ in ("FP_DateTime", "FP_Time"):
            value = str(value)
        if value is not None and self.values is not None:
            value = self.values.get(str(value), self.default)
        if value is not None and self.reference:
            remote = remote_id_of(str(value))
            if remote is None:
                raise MissingReference(str(value))
            value = remote
        value = _format(value, self.format)
        if value in (None, "") and self.required:
            raise FieldMissing(f"{self.name} is required by the destination and has no value")
        return value


def _compile_value(name: str, spec: Any) -> _Value:
    if isinstance(spec, str):
        return _Value(name, compile_fhirpath(spec))
    return _Value(name, compile_fhirpath(spec["path"]), spec.get("required", False), spec.get("values"),
                  spec.get("default"), spec.get("reference", False), spec.get("format"))


def _is_value(spec: Any) -> bool:
    return isinstance(spec, str) or (isinstance(spec, dict) and "path" in spec)


def _compile_object(prefix: str, spec: dict) -> dict[str, Any]:
    return {key: _compile_value(f"{prefix}{key}", value) if _is_value(value) else _compile_object(f"{prefix}{key}.", value)
            for key, value in spec.items()}


def _render_object(compiled: dict[str, Any], resource: dict, remote_id_of) -> dict[str, Any]:
    body = {}
    for key, value in compiled.items():
        rendered = value.evaluate(resource, remote_id_of) if isinstance(value, _Value) else \
            _render_object(value, resource, remote_id_of)
        if rendered not in (None, "", {}):
            body[key] = rendered
    return body


@dataclass
class FieldMap:
    """One compiled map: a resource type (and condition) to a destination's record kind."""

    source: str
    resource_type: str
    kind: str
    collection: str
    fields: dict[str, Any]
    external_id: _Value | None = None
    url_fields: dict[str, _Value] = field(default_factory=dict)
    condition: Callable[[dict], list] | None = None

    def applies_to(self, resource: dict) -> bool:
        if resource.get("resourceType") != self.resource_type:
            return False
        return self.condition is None or bool(self.condition(resource)) and self.condition(resource)[0] is True

    def render(self, resource: dict, remote_id_of: Callable[[str], str | None]) -> tuple[dict, str]:
        """The destination's record and the collection path it goes to."""
        body = _render_object(self.fields, resource, remote_id_of)
        if self.external_id is not None:
            body["externalId"] = self.external_id.evaluate(resource, remote_id_of)
        url_values = {name: value.evaluate(resource, remote_id_of) for name, value in self.url_fields.items()}
        collection = re.sub(r"\{(\w+)\}", lambda m: str(url_values[m.group(1)]), self.collection)
        return body, collection


def load_field_map(path: Path, schema: dict | None = None) -> FieldMap:
    data = load_config_file(path, schema or load_schema(SCHEMA_PATH))
    try:
        return FieldMap(
            source=str(path), resource_type=data["resource_type"], kind=data.get("kind", path.stem),
            collection=data["collection"], fields=_compile_object("", data["fields"]),
            external_id=_compile_value("externalId", data["external_id"]) if "external_id" in data else None,
            url_fields={k: _compile_value(k, v) for k, v in (data.get("url_fields") or {}).items()},
            condition=compile_fhirpath(data["when"]) if data.get("when") else None,
        )
    except Exception as exc:  # a FHIRPath syntax error
        raise ConfigError(path, [f"1: not a valid FHIRPath expression: {exc}"]) from None


class FieldMaps:
    """All field maps of one destination, chosen by resource type and condition."""

    def __init__(self, maps: list[FieldMap]):
        self.maps = maps

    @classmethod
    def load(cls, directory: Path) -> "FieldMaps":
        schema = load_schema(SCHEMA_PATH)
        return cls([load_field_map(path, schema) for path in sorted(Path(directory).glob("*.yaml"))])

    def for_resource(self, resource: dict) -> FieldMap | None:
        return next((m for m in self.maps if m.applies_to(resource)), None)
