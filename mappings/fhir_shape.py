"""Answers what a config needs to know of FHIR R4 structure, from fhir.resources' models:
whether an element exists and whether it repeats (``Patient.name`` is a list,
``Patient.gender`` is not), and validates finished resources."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.resource import Resource

from foundation.errors import CarebridgeError

_ELEMENT_TYPE = re.compile(r"abc\.(\w+)Type")


class UnknownElement(CarebridgeError, KeyError):
    """A config names an element the resource does not have."""


@lru_cache(maxsize=None)
def _model(type_name: str):
    try:
        return get_fhir_model_class(type_name)
    except (KeyError, ValueError):
        return None


@lru_cache(maxsize=None)
def _fields(type_name: str) -> dict[str, tuple[bool, str | None]]:
    """JSON element name -> (repeats, element type name or None for primitives)."""
    model = _model(type_name)
    if model is None:
        return {}
    fields = {}
    for name, info in model.model_fields.items():
        annotation = str(info.annotation)
        match = _ELEMENT_TYPE.search(annotation)
        fields[info.alias or name] = ("List[" in annotation, match.group(1) if match else None)
    return fields


@lru_cache(maxsize=None)
def element(resource_type: str, dotted: str) -> tuple[bool, str | None]:
    """(repeats, type name) of ``dotted`` (``participant.individual``) inside ``resource_type``."""
    type_name: str | None = resource_type
    repeats = False
    for part in dotted.split("."):
        fields = _fields(type_name) if type_name else {}
        if part not in fields:
            raise UnknownElement(f"{resource_type} has no element {dotted!r} ({part!r} unknown)")
        repeats, type_name = fields[part]
    return repeats, type_name


def is_resource_type(name: str) -> bool:
    model = _model(name)
    return model is not None and issubclass(model, Resource)


def validation_problems(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """(top-level element, message) for each way ``resource`` is not valid FHIR R4; empty if valid."""
    model = _model(resource["resourceType"])
    try:
        model.model_validate(resource)
    except Exception as exc:  # pydantic's ValidationError, or a model's own ValueError
        errors = getattr(exc, "errors", None)
        if not callable(errors):
            return [("", type(exc).__name__)]
        problems = []
        for error in errors():
            location = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
            problems.append((location[0] if location else "", error.get("type", "invalid")))
        return problems
    return []
