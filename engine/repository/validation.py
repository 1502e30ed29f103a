"""Checks FHIR resources against the R4 models (fhir.resources' R4B classes read and write R4 JSON)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from foundation.errors import CarebridgeError

#: fhir.resources' message when a choice element has several types: it lists the element's names.
_CHOICE_NAMES = re.compile(r"from this list \[([^\]]*)\]")
#: A trailing type name (``DateTime`` of ``valueDateTime``).
_TYPE_SUFFIX = re.compile(r"[A-Z][a-z]*$")


@dataclass(frozen=True)
class Issue:
    """One problem with a resource: the FHIRPath-like element at fault and what is wrong (no values)."""

    expression: str
    message: str


class ResourceInvalid(CarebridgeError):
    """A resource does not conform to FHIR R4; ``issues`` name each element at fault."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("; ".join(f"{i.expression}: {i.message}" for i in issues))


@lru_cache(maxsize=None)
def model_class(resource_type: str):
    try:
        return get_fhir_model_class(resource_type)
    except (KeyError, ValueError, AttributeError):
        return None


def _expression(resource_type: str, location: tuple, message: str) -> str:
    path = resource_type
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    choice = _choice_element(message)
    return f"{path}.{choice}" if choice else path


def _choice_element(message: str) -> str | None:
    """``deceased[x]`` when the message is about the names ``deceasedBoolean``, ``deceasedDateTime``.

    Pydantic reports a choice element given as two types at the resource that holds it, so
    without this the expression names the resource rather than the element.
    """
    found = _CHOICE_NAMES.search(message)
    names = re.findall(r"'([A-Za-z]+)'", found.group(1)) if found else []
    if len(names) < 2:
        return None
    prefix = os.path.commonprefix(names)
    if prefix in names:  # valueDate and valueDateTime share valueDate: keep only the element's name
        prefix = _TYPE_SUFFIX.sub("", prefix)
    return f"{prefix}[x]" if prefix else None


def validate_resource(resource: dict[str, Any]) -> None:
    """Raise :class:`ResourceInvalid` unless ``resource`` is a valid FHIR R4 resource."""
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(resource_type, str):
        raise ResourceInvalid([Issue("resourceType", "missing resourceType")])
    model = model_class(resource_type)
    if model is None:
        raise ResourceInvalid([Issue("resourceType", f"unknown resource type {resource_type!r}")])
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        # Only locations and messages: the input values may be patient data.
        raise ResourceInvalid([
            Issue(_expression(resource_type, tuple(e["loc"]), e["msg"]), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]) from None
