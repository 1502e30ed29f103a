"""Outbound field maps: how a FHIR resource becomes a destination's record, as YAML integrators edit.

Each value is a FHIRPath expression (fhirpathpy), compiled once when the map loads. Field
names of a destination live only in these files, never in engine code.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from fhirpathpy import compile as compile_fhirpath

from foundation.errors import CarebridgeError
from foundation.yaml_files import ConfigError, load_config_file, load_schema

#: The JSON Schema every field map must match.
SCHEMA_PATH = Path(__file__).resolve().parent / "field_map.schema.json"


class FieldMissing(CarebridgeError):
    """A field the destination requires has no value in the resource."""


class MissingReference(CarebridgeError):
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
    if fmt == "base64-text" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise FieldMissing("the attachment's data is not base64-encoded UTF-8 text") from None
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


@dataclass
class _List:
    """A list field: one object per element ``each`` selects, its fields evaluated on that element."""

    each: Callable[[dict], list]
    fields: dict[str, Any]

    def evaluate(self, resource: dict, remote_id_of: Callable[[str], str | None]) -> list[dict]:
        rendered = [_render_object(self.fields, element, remote_id_of) for element in self.each(resource)
                    if isinstance(element, dict)]
        return [item for item in rendered if item]


def _is_value(spec: Any) -> bool:
    return isinstance(spec, str) or (isinstance(spec, dict) and "path" in spec)


def _compile_member(name: str, spec: Any) -> Any:
    if _is_value(spec):
        return _compile_value(name, spec)
    if isinstance(spec, dict) and "each" in spec:
        return _List(compile_fhirpath(spec["each"]), _compile_object(f"{name}[].", spec["fields"]))
    return _compile_object(f"{name}.", spec)


def _compile_object(prefix: str, spec: dict) -> dict[str, Any]:
    return {key: _compile_member(f"{prefix}{key}", value) for key, value in spec.items()}


def _render_object(compiled: dict[str, Any], resource: dict, remote_id_of) -> dict[str, Any]:
    body = {}
    for key, value in compiled.items():
        rendered = value.evaluate(resource, remote_id_of) if isinstance(value, (_Value, _List)) else \
            _render_object(value, resource, remote_id_of)
        if rendered not in (None, "", {}, []):
            body[key] = rendered
    return body


@dataclass(frozen=True)
class UploadSource:
    """Where a file's bytes are: inline base64 ``data`` or a ``url`` such as ``Binary/7``."""

    data: str | None
    url: str | None
    content_type: str | None
    file_name: str | None


@dataclass
class Removal:
    """How a deleted (or entered-in-error) resource is carried out at the destination.

    ``fields`` are sent over the last version (an appointment becomes ``Cancelled``); with
    none, the destination cannot carry out the removal and it is skipped with a reason.
    """

    condition: Callable[[dict], list] | None
    fields: dict[str, Any]

    def applies_to(self, resource: dict, deleted: bool) -> bool:
        return deleted or (self.condition is not None and _holds(self.condition(resource)))


def _holds(results: list) -> bool:
    return bool(results) and results[0] is True


@dataclass
class FieldMap:
    """One compiled map: a resource type (and condition) to a destination's record kind."""

    source: str
    resource_type: str
    kind: str
    collection: str
    fields: dict[str, Any]
    external_id: _Value | None = None
    #: The destination's field that carries ``external_id``, and the field a 409 answer names the existing record in.
    external_id_field: str | None = None
    existing_id_field: str | None = None
    url_fields: dict[str, _Value] = field(default_factory=dict)
    condition: Callable[[dict], list] | None = None
    upload: dict[str, _Value] | None = None
    removal: Removal | None = None

    def applies_to(self, resource: dict) -> bool:
        if resource.get("resourceType") != self.resource_type:
            return False
        return self.condition is None or _holds(self.condition(resource))

    def upload_source(self, resource: dict) -> UploadSource | None:
        """Where the bytes of a file upload come from, for maps with an ``upload`` section."""
        if self.upload is None:
            return None
        values = {name: value.evaluate(resource, lambda reference: None) for name, value in self.upload.items()}
        return UploadSource(values.get("data"), values.get("url"), values.get("content_type"), values.get("file_name"))

    def removal_for(self, resource: dict, deleted: bool) -> Removal | None:
        """The removal to carry out, if the resource is deleted or its status says it was removed."""
        if self.removal is None:
            return Removal(None, {}) if deleted else None
        return self.removal if self.removal.applies_to(resource, deleted) else None

    def external_key(self, body: dict) -> str | None:
        """The key a rendered record carries (``external_id``), if the map has one."""
        return body.get(self.external_id_field) if self.external_id_field else None

    def render(self, resource: dict, remote_id_of: Callable[[str], str | None]) -> tuple[dict, str]:
        """The destination's record and the collection path it goes to."""
        body = _render_object(self.fields, resource, remote_id_of)
        if self.external_id is not None:
            body[self.external_id_field] = self.external_id.evaluate(resource, remote_id_of)
        url_values = {name: value.evaluate(resource, remote_id_of) for name, value in self.url_fields.items()}
        collection = re.sub(r"\{(\w+)\}", lambda m: str(url_values[m.group(1)]), self.collection)
        return body, collection


def load_field_map(path: Path, schema: dict | None = None) -> FieldMap:
    data = load_config_file(path, schema or load_schema(SCHEMA_PATH))
    try:
        return FieldMap(
            source=str(path), resource_type=data["resource_type"], kind=data.get("kind", path.stem),
            collection=data["collection"], fields=_compile_object("", data["fields"]),
            external_id=_compile_value(data["external_id"]["field"], data["external_id"]) if "external_id" in data
            else None,
            external_id_field=(data.get("external_id") or {}).get("field"),
            existing_id_field=(data.get("external_id") or {}).get("existing_field"),
            url_fields={k: _compile_value(k, v) for k, v in (data.get("url_fields") or {}).items()},
            condition=compile_fhirpath(data["when"]) if data.get("when") else None,
            upload={k: _compile_value(k, v) for k, v in data["upload"].items()} if data.get("upload") else None,
            removal=Removal(compile_fhirpath(data["removal"]["when"]) if data["removal"].get("when") else None,
                            dict(data["removal"].get("fields") or {})) if data.get("removal") else None,
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
