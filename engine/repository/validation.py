"""Checks FHIR resources against the R4 models (fhir.resources' R4B classes read and write R4 JSON),
and what those models let through: pydantic reads ``"yes"`` as a boolean and ``"3"`` as an integer,
and leaves the codes of required bindings unchecked, so each primitive's JSON type, each decimal's
range and each such code are checked against the models' own field tables.
"""

from __future__ import annotations

import decimal
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, get_args

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.utils import get_fhir_type_name, is_list_type, is_primitive_type
from pydantic import ValidationError

from foundation.errors import CarebridgeError

#: fhir.resources' message when a choice element has several types: it lists the element's names.
_CHOICE_NAMES = re.compile(r"from this list \[([^\]]*)\]")
#: A trailing type name (``DateTime`` of ``valueDateTime``).
_TYPE_SUFFIX = re.compile(r"[A-Z][a-z]*$")
#: The JSON type of each FHIR primitive (R4, JSON format): the rest are strings.
_BOOLEAN, _INTEGERS, _DECIMAL = "boolean", frozenset({"integer", "integer64", "positiveInt", "unsignedInt"}), "decimal"
#: Elements (``Model.element``) bound to a required value set whose codes fhir.resources lists in full,
#: in the stored types and the datatypes they use. Its lists are read from each element's short
#: description, which elsewhere may be partial (``Observation.status``) or not a binding at all.
REQUIRED_BINDINGS = frozenset({
    "Patient.gender", "PatientContact.gender", "PatientLink.type", "Practitioner.gender",
    "PractitionerRoleAvailableTime.daysOfWeek", "Location.status", "Location.mode",
    "LocationHoursOfOperation.daysOfWeek", "EncounterLocation.status", "Appointment.status",
    "AppointmentParticipant.required", "AppointmentParticipant.status", "DocumentReference.status",
    "DocumentReference.docStatus", "DocumentReferenceRelatesTo.code", "Invoice.status",
    "InvoiceLineItemPriceComponent.type", "ChargeItem.status", "Address.use", "Address.type", "ContactPoint.system",
    "ContactPoint.use", "HumanName.use", "Identifier.use", "Narrative.status", "TimingRepeat.dayOfWeek",
    "TimingRepeat.durationUnit", "TimingRepeat.periodUnit",
})


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
        issues = list(_value_issues(model, resource, resource_type))
    except ValidationError as exc:
        # Only locations and messages: the input values may be patient data.
        raise ResourceInvalid([
            Issue(_expression(resource_type, tuple(e["loc"]), e["msg"]), e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]) from None
    except RecursionError:
        raise ResourceInvalid([Issue(resource_type, "the resource nests too deeply to be read")]) from None
    if issues:
        raise ResourceInvalid(issues)


@dataclass(frozen=True)
class _Field:
    """What the JSON values of one element must be."""

    primitive: str | None  # the FHIR primitive type, or None for a complex element
    model: Any  # the model of a complex element (``Resource`` for a contained resource)
    repeats: bool
    codes: frozenset[str] | None  # the codes of a required binding (REQUIRED_BINDINGS)


def _model_of(annotation: Any) -> Any:
    if hasattr(annotation, "get_model_klass"):
        return annotation.get_model_klass()
    return next((m for m in map(_model_of, get_args(annotation)) if m is not None), None)


@lru_cache(maxsize=None)
def _fields(model: Any) -> dict[str, _Field]:
    """Each JSON name of ``model``'s elements, with what its values must be."""
    found = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        codes = extra.get("enum_values") if f"{model.__name__}.{key}" in REQUIRED_BINDINGS else None
        primitive = get_fhir_type_name(info) if is_primitive_type(info) else None
        found[key] = _Field(primitive, None if primitive else _model_of(info.annotation), is_list_type(info),
                            frozenset(codes) if codes else None)
    return found


def _value_issues(model: Any, node: dict[str, Any], path: str):
    """The elements of ``node`` whose JSON values the model let through but FHIR does not allow."""
    fields = _fields(model)
    for key, value in node.items():
        field = fields.get(key)
        if field is None or value is None:
            continue
        items = value if field.repeats and isinstance(value, list) else [value]
        for index, item in enumerate(items):
            where = f"{path}.{key}[{index}]" if field.repeats else f"{path}.{key}"
            if item is None:
                continue  # a primitive list's placeholder for an extension (``_given``)
            if field.primitive is not None:
                problem = _primitive_problem(field, item)
                if problem:
                    yield Issue(where, problem)
            elif isinstance(item, dict) and field.model is not None:
                child = field.model
                if child.__name__ == "Resource":  # a contained resource: its own type's model
                    kind = item.get("resourceType")
                    child = model_class(kind) if isinstance(kind, str) else None
                if child is not None:
                    yield from _value_issues(child, item, where)


def _primitive_problem(field: _Field, value: Any) -> str | None:
    """Why ``value`` is not a JSON value of ``field``'s primitive type (or code), or ``None``."""
    kind = field.primitive
    if kind == _BOOLEAN:
        return None if isinstance(value, bool) else "must be a JSON boolean: true or false"
    if kind in _INTEGERS:
        return None if isinstance(value, int) and not isinstance(value, bool) else f"must be a JSON integer ({kind})"
    if kind == _DECIMAL:
        if isinstance(value, bool) or not isinstance(value, (int, float, decimal.Decimal)):
            return "must be a JSON number (decimal)"
        # Finite as a double, as the JSON readers of the destinations (and Python's json) read it.
        return None if math.isfinite(float(value)) else "must be a finite number, within a double's range (decimal)"
    if not isinstance(value, str):
        return f"must be a JSON string ({kind})"
    if field.codes is not None and value not in field.codes:
        return "must be a code of the required value set: " + ", ".join(sorted(field.codes))
    return None
