"""Cuts resources down for ``_summary`` and ``_elements``, tagging them SUBSETTED as FHIR asks."""

from __future__ import annotations

from typing import Any

from engine.repository.validation import model_class

#: The tag a server puts on a resource it returns incomplete.
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED",
             "display": "subsetted"}
#: Elements every subset keeps.
ALWAYS_KEPT = ("resourceType", "id", "meta")


def summary_elements(resource_type: str) -> set[str]:
    """Top-level elements the R4 definition marks as part of the summary."""
    model = model_class(resource_type)
    if model is None:
        return set()
    return {field.alias or name for name, field in model.model_fields.items()
            if (field.json_schema_extra or {}).get("summary_element_property")}


def _tagged(resource: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), SUBSETTED]
    return {**kept, "meta": meta}


def _keep(resource: dict[str, Any], names: set[str]) -> dict[str, Any]:
    # Primitive elements carry their extensions in ``_name``: keep those with them.
    return {k: v for k, v in resource.items() if k in ALWAYS_KEPT or k in names or k.lstrip("_") in names}


def subset(resource: dict[str, Any], summary: str | None, elements: list[str] | None) -> dict[str, Any]:
    """``resource`` as ``_summary`` (true, text, data, false) and ``_elements`` ask for it."""
    if elements:
        return _tagged(resource, _keep(resource, set(elements)))
    if summary == "true":
        return _tagged(resource, _keep(resource, summary_elements(resource["resourceType"])))
    if summary == "text":
        return _tagged(resource, _keep(resource, {"text"}))
    if summary == "data":
        return _tagged(resource, {k: v for k, v in resource.items() if k != "text"})
    return resource
