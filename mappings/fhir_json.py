"""FHIR JSON files (one resource, a Bundle, or NDJSON) as the resources to save, as if each
had been posted to the FHIR API: ids the sender gave are kept (an update), the others assigned.

Assigned ids derive from the file's hash and the entry's position, so the same file read
twice (a crash between saving and moving it to ``done/``) names the same resources.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from mappings.errors import MappingError

#: Namespace of ids assigned to resources a file carries without one.
FILE_RESOURCE_NAMESPACE = uuid.UUID("0f9c1f6e-6a57-4b8e-9c3a-2f1d7b6a5e01")
#: Most resources one file may carry.
MAX_RESOURCES_PER_FILE = 10_000
_TYPE_AND_ID = re.compile(r"^([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$")


def _load(text: str, location: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MappingError(location, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None


def _entries(text: str, ndjson: bool) -> list[tuple[dict[str, Any], str | None, str | None]]:
    """(resource, fullUrl, id from the request) for each resource the file carries."""
    if ndjson:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
        return [(_load(line, f"line {n}"), None, None) for n, line in lines]
    data = _load(text, "file")
    if isinstance(data, list):  # a JSON array of resources
        return [(item, None, None) for item in data]
    if not isinstance(data, dict):
        raise MappingError("file", "JSON is neither a resource nor a Bundle")
    if data.get("resourceType") != "Bundle":
        return [(data, None, None)]
    found = []
    for index, entry in enumerate(data.get("entry") or []):
        request = entry.get("request") or {}
        method = (request.get("method") or "POST").upper()
        if method not in ("POST", "PUT"):
            raise MappingError(f"Bundle.entry[{index}].request.method", f"{method} is not accepted from files")
        match = _TYPE_AND_ID.match(request.get("url") or "") if method == "PUT" else None
        found.append((entry.get("resource"), entry.get("fullUrl"), match.group(2) if match else None))
    return found


def _rewrite(node: Any, placeholders: dict[str, str]) -> Any:
    if isinstance(node, dict):
        rewritten = {k: _rewrite(v, placeholders) for k, v in node.items()}
        if isinstance(rewritten.get("reference"), str) and rewritten["reference"] in placeholders:
            rewritten["reference"] = placeholders[rewritten["reference"]]
        return rewritten
    if isinstance(node, list):
        return [_rewrite(v, placeholders) for v in node]
    return node


def resources_to_save(text: str, file_sha256: str, ndjson: bool = False) -> list[dict[str, Any]]:
    """The resources a FHIR JSON file carries, each with its id, references between them resolved."""
    entries = _entries(text, ndjson)
    if not entries:
        raise MappingError("file", "carries no resources")
    if len(entries) > MAX_RESOURCES_PER_FILE:
        raise MappingError("file", f"carries more than {MAX_RESOURCES_PER_FILE} resources")
    placeholders: dict[str, str] = {}
    resources = []
    for index, (resource, full_url, request_id) in enumerate(entries):
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise MappingError(f"entry {index}", "is not a FHIR resource (no resourceType)")
        resource_id = request_id or resource.get("id") or str(uuid.uuid5(FILE_RESOURCE_NAMESPACE,
                                                                          f"{file_sha256}:{index}"))
        resource = {**resource, "id": resource_id}
        if full_url:
            placeholders[full_url] = f"{resource['resourceType']}/{resource_id}"
        resources.append(resource)
    return [_rewrite(resource, placeholders) for resource in resources]
