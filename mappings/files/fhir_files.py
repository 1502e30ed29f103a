"""FHIR JSON files (one resource, a JSON array of resources, NDJSON, or a Bundle) as the Bundle
a client would POST to the FHIR API's base for them.

A batch or transaction Bundle is taken as it is. Anything else becomes a batch with one entry
per resource: ``PUT Type/id`` when the resource has an id (an update, or a create with that
id), ``POST Type`` when it has none, just as a client would send them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mappings.errors import MappingError

#: Most resources one file may carry.
MAX_RESOURCES_PER_FILE = 10_000
#: FHIR's id grammar: an id that does not fit is the server's to refuse, in the entry's URL.
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _load(text: str, location: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MappingError(location, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def _entry(index: int, resource: Any) -> dict[str, Any]:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise MappingError(f"entry {index}", "is not a FHIR resource (no resourceType)")
    resource_type, resource_id = resource["resourceType"], resource.get("id")
    if isinstance(resource_id, str) and _ID.match(resource_id):
        return {"resource": resource, "request": {"method": "PUT", "url": f"{resource_type}/{resource_id}"}}
    return {"resource": resource, "request": {"method": "POST", "url": resource_type}}


def as_bundle(text: str, ndjson: bool = False) -> dict[str, Any]:
    """The batch or transaction Bundle that posting this file's content to the FHIR API would be."""
    if ndjson:
        resources = [_load(line, f"line {n}") for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    else:
        data = _load(text, "file")
        if isinstance(data, dict) and data.get("resourceType") == "Bundle" and data.get("type") in ("batch",
                                                                                                  "transaction"):
            entries = data.get("entry") or []
            if len(entries) > MAX_RESOURCES_PER_FILE:
                raise MappingError("file", f"carries more than {MAX_RESOURCES_PER_FILE} resources")
            return data
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            raise MappingError("Bundle.type", "a Bundle file must be a batch or a transaction, as POST to the "
                                              "FHIR API's base takes")
        resources = data if isinstance(data, list) else [data]
    if not resources:
        raise MappingError("file", "carries no resources")
    if len(resources) > MAX_RESOURCES_PER_FILE:
        raise MappingError("file", f"carries more than {MAX_RESOURCES_PER_FILE} resources")
    return {"resourceType": "Bundle", "type": "batch",
            "entry": [_entry(index, resource) for index, resource in enumerate(resources)]}
