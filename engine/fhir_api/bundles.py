"""Batch and transaction Bundles posted to the base.

A batch runs each entry as its own interaction. A transaction is atomic: every write goes
through one :class:`WriteUnit` (one commit, with its outbox rows), in the order FHIR sets
(DELETE, POST, PUT, PATCH, then GET after the commit); ``urn:uuid:`` fullUrls and
conditional references (``Patient?identifier=...``) become ``Type/id`` references first.
"""

from __future__ import annotations

import base64
import copy
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Iterator, Protocol

from engine.fhir_api.errors import FhirError, bad_request
from engine.fhir_api.exchange import FhirRequest, FhirResponse, version_of, write_response
from engine.fhir_api.limits import FhirLimits
from engine.fhir_api.search_params import query_pairs
from engine.fhir_api.writes import FhirWriter, WriteUnit, check_id, check_type
from engine.repository.resources import WriteOutcome
from foundation import decimal_json


class FhirApi(Protocol):
    """What a Bundle needs of the API that received it: each entry is one of its interactions."""

    writer: FhirWriter

    def handle(self, request: FhirRequest) -> FhirResponse: ...

#: The order a transaction processes its entries in (FHIR R4, 3.1.0.11.2).
TRANSACTION_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 3, "GET": 4, "HEAD": 4}


@dataclass
class Entry:
    """One entry's request, taken apart."""

    index: int
    method: str
    resource_type: str
    resource_id: str | None
    query: str
    full_url: str | None
    resource: Any
    if_none_exist: str | None
    if_match: str | None


def _relative(url: str, base: str) -> str:
    if url.startswith(base + "/"):
        return url[len(base) + 1:]
    if "://" in url:
        raise bad_request("invalid-bundle", "an entry's request.url is on another server")
    return url.lstrip("/")


def _entries(bundle: dict[str, Any], base: str) -> list[Entry]:
    found = []
    for index, item in enumerate(bundle.get("entry") or []):
        request = item.get("request") if isinstance(item, dict) else None
        if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
            raise bad_request("invalid-bundle", "each entry needs request.method and request.url",
                              [f"Bundle.entry[{index}].request"])
        for member in ("method", "url"):
            if not isinstance(request[member], str):
                raise bad_request("invalid-bundle", f"an entry's request.{member} must be a string",
                                  [f"Bundle.entry[{index}].request.{member}"])
        path, _, query = _relative(request["url"], base).partition("?")
        parts = [p for p in path.split("/") if p]
        method = request["method"].upper()
        if method not in TRANSACTION_ORDER:
            raise bad_request("invalid-bundle", f"method {method} is not a Bundle request method",
                              [f"Bundle.entry[{index}].request.method"])
        found.append(Entry(index, method, parts[0] if parts else "", parts[1] if len(parts) > 1 else None,
                           query, item.get("fullUrl"), item.get("resource"), request.get("ifNoneExist"),
                           request.get("ifMatch")))
    return found


def bundle_type(bundle: Any) -> str:
    """``batch`` or ``transaction``; anything else is a 400, as POST to the base answers it."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise bad_request("invalid-bundle", "POST to the base takes a batch or transaction Bundle",
                          ["Bundle"])
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise bad_request("invalid-bundle", "Bundle.type must be batch or transaction", ["Bundle.type"])
    return kind


def process_bundle(api: FhirApi, request: FhirRequest) -> FhirResponse:
    bundle = request.body
    kind = bundle_type(bundle)
    if isinstance(bundle.get("entry"), list):
        request.limits.check_bundle_entries(len(bundle["entry"]))
    entries = _entries(bundle, request.base)
    responses = _batch(api, request, entries) if kind == "batch" else _transaction(api, request, entries)
    return FhirResponse(200, {"resourceType": "Bundle", "type": f"{kind}-response",
                              "entry": [responses[e.index] for e in entries]})


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def response_entry(response: FhirResponse, base: str) -> dict[str, Any]:
    """A Bundle response entry from an interaction's response."""
    answer: dict[str, Any] = {"status": _status_line(response.status)}
    if "Location" in response.headers:
        answer["location"] = response.headers["Location"]
    if "ETag" in response.headers:
        answer["etag"] = response.headers["ETag"]
    body = response.body
    if body and body.get("meta", {}).get("lastUpdated"):
        answer["lastModified"] = body["meta"]["lastUpdated"]
    entry: dict[str, Any] = {}
    if body is not None and body.get("resourceType") == "OperationOutcome":
        answer["outcome"] = body
    elif body is not None:
        entry["resource"] = body
        if body.get("id") and body.get("resourceType"):
            entry["fullUrl"] = f"{base}/{body['resourceType']}/{body['id']}"
    entry["response"] = answer
    return entry


def _sub_request(request: FhirRequest, entry: Entry) -> FhirRequest:
    headers = {k: v for k, v in request.headers.items() if k == "prefer"}
    if entry.if_none_exist:
        headers["if-none-exist"] = entry.if_none_exist
    if entry.if_match:
        headers["if-match"] = entry.if_match
    path = "/".join(p for p in (entry.resource_type, entry.resource_id) if p)
    return FhirRequest(entry.method, path, request.base, query_pairs(entry.query), headers, entry.resource,
                       request.limits)


def _batch(api: FhirApi, request: FhirRequest, entries: list[Entry]) -> dict[int, dict[str, Any]]:
    return {e.index: response_entry(api.handle(_sub_request(request, e)), request.base) for e in entries}


# Transactions ------------------------------------------------------------------------------

def _rewrite(node: Any, replacements: dict[str, str], unit: WriteUnit) -> Any:
    if isinstance(node, dict):
        rewritten = {k: _rewrite(v, replacements, unit) for k, v in node.items()}
        reference = rewritten.get("reference")
        if isinstance(reference, str):
            if reference in replacements:
                rewritten["reference"] = replacements[reference]
            elif "?" in reference and not reference.startswith(("http:", "https:", "urn:")):
                rewritten["reference"] = _conditional_reference(reference, unit)
        return rewritten
    if isinstance(node, list):
        return [_rewrite(v, replacements, unit) for v in node]
    return node


def _conditional_reference(reference: str, unit: WriteUnit) -> str:
    resource_type, _, criteria = reference.partition("?")
    found = unit.find(resource_type, criteria)
    if len(found) != 1:
        raise FhirError(412, "conflict", "conditional-reference",
                        f"a conditional reference to {resource_type} matches {len(found)} resources, not one")
    return f"{resource_type}/{found[0]}"


def _assign_ids(unit: WriteUnit, entries: list[Entry]) -> dict[str, str]:
    """Where each entry's fullUrl will live (``Type/id``), resolving conditional creates and updates first."""
    replacements: dict[str, str] = {}
    for entry in entries:
        if entry.method not in ("POST", "PUT") or not entry.full_url:
            continue
        check_type(entry.resource_type)
        if entry.method == "POST":
            found = unit.find(entry.resource_type, entry.if_none_exist) if entry.if_none_exist else []
            if len(found) > 1:
                raise FhirError(412, "conflict", "multiple-matches", "an entry's ifNoneExist matches several")
            entry.resource_id = found[0] if found else str(uuid.uuid4())
        elif entry.query:
            found = unit.find(entry.resource_type, entry.query)
            if len(found) > 1:
                raise FhirError(412, "conflict", "multiple-matches", "a conditional PUT entry matches several")
            entry.resource_id = found[0] if found else (entry.resource or {}).get("id") or str(uuid.uuid4())
        if entry.resource_id:
            replacements[entry.full_url] = f"{entry.resource_type}/{entry.resource_id}"
    return replacements


def _transaction_writes(unit: WriteUnit, entries: list[Entry]) -> Iterator[tuple[Entry, WriteOutcome | None]]:
    """Each write of a transaction done in ``unit``, in FHIR's order; the first failure raises."""
    replacements = _assign_ids(unit, entries)
    for entry in sorted(entries, key=lambda e: TRANSACTION_ORDER[e.method]):
        if entry.method in ("GET", "HEAD"):
            continue
        resource = _rewrite(copy.deepcopy(entry.resource), replacements, unit) if entry.resource else None
        try:
            yield entry, _write_entry(unit, entry, resource, version_of(entry.if_match))
        except FhirError as error:
            error.expressions = error.expressions or [f"Bundle.entry[{entry.index}]"]
            raise


def _transaction(api: FhirApi, request: FhirRequest, entries: list[Entry]) -> dict[int, dict[str, Any]]:
    responses: dict[int, dict[str, Any]] = {}
    reads = [entry for entry in entries if entry.method in ("GET", "HEAD")]
    with api.writer.unit(limits=request.limits) as unit:
        for entry, outcome in _transaction_writes(unit, entries):
            if entry.method == "DELETE":
                responses[entry.index] = {"response": {"status": _status_line(204 if outcome else 200)}}
            else:
                response = write_response(outcome, request)
                responses[entry.index] = response_entry(response, request.base)
                responses[entry.index]["response"]["location"] = (
                    f"{outcome.resource_type}/{outcome.id}/_history/{outcome.version_id}")
    for entry in reads:
        responses[entry.index] = response_entry(api.handle(_sub_request(request, entry)), request.base)
    return responses


def write_bundle(unit: WriteUnit, bundle: Any, base: str) -> dict[int, FhirError]:
    """The writes of a batch or transaction Bundle, done in ``unit`` exactly as POST to the base
    does them, for a caller that commits them with work of its own (a dropped file and its status).

    A transaction raises the first entry's :class:`FhirError` (the caller rolls back). In a
    batch each entry succeeds or fails alone (a savepoint each); the failed ones are returned
    by entry index. Reads (GET, HEAD) have no one to answer and are skipped.
    """
    kind = bundle_type(bundle)
    entries = _entries(bundle, base)
    if kind == "transaction":
        for _ in _transaction_writes(unit, entries):
            pass
        return {}
    failures: dict[int, FhirError] = {}
    for entry in entries:
        if entry.method in ("GET", "HEAD"):
            continue
        kept = len(unit.outcomes)
        try:
            with unit.session.begin_nested():
                _write_entry(unit, entry, copy.deepcopy(entry.resource), version_of(entry.if_match))
        except FhirError as error:
            del unit.outcomes[kept:]  # the savepoint undid them: nothing to route
            failures[entry.index] = error
    return failures


def _write_entry(unit: WriteUnit, entry: Entry, resource: Any, if_match: int | None):
    if entry.method == "POST":
        if resource is None:
            raise bad_request("missing-body", "a POST entry needs a resource", [f"Bundle.entry[{entry.index}]"])
        return unit.create(resource, if_none_exist=entry.if_none_exist, resource_id=entry.resource_id,
                           resource_type=entry.resource_type)
    if entry.method == "PUT":
        if entry.query and not entry.resource_id:
            return unit.conditional_update(entry.resource_type, entry.query, resource, if_match=if_match)
        if entry.resource_id is None:
            raise bad_request("invalid-bundle", "a PUT entry's url names Type/id or Type?criteria")
        check_id(entry.resource_id)
        if isinstance(resource, dict) and "id" not in resource:
            resource = {**resource, "id": entry.resource_id}
        return unit.update(entry.resource_type, entry.resource_id, resource, if_match=if_match)
    if entry.method == "PATCH":
        return unit.patch(entry.resource_type, entry.resource_id or "", _patch_document(resource, unit.limits),
                          if_match=if_match)
    if entry.query:
        return unit.conditional_delete(entry.resource_type, entry.query)
    return unit.delete(entry.resource_type, entry.resource_id or "")


def _patch_document(resource: Any, limits: FhirLimits) -> Any:
    """A PATCH entry carries its JSON Patch in a Binary (base64), as FHIR R4 says."""
    if isinstance(resource, dict) and resource.get("resourceType") == "Binary":
        try:
            return decimal_json.loads(base64.b64decode(resource.get("data", "")), max_depth=limits.max_json_depth)
        except decimal_json.TooDeep:
            raise limits.too_deep("the Binary of a PATCH entry") from None
        except ValueError:
            raise bad_request("invalid-patch", "the Binary of a PATCH entry holds no JSON Patch") from None
    return resource
