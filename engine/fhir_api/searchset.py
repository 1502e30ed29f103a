"""Builds the ``searchset`` Bundle of a search page: entries with fullUrl and search.mode, the
total, absolute self/next/previous links on the base the client called, and an outcome
entry naming the parameters that were ignored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from engine.fhir_api.errors import operation_outcome
from engine.fhir_api.search import SearchPage
from engine.fhir_api.search_params import SearchRequest
from engine.fhir_api.subsetting import subset


def _link(base: str, resource_type: str, query: list[tuple[str, str]], cursor: str | None = None) -> str:
    pairs = [(k, v) for k, v in query if k != "_cursor"]
    if cursor:
        pairs.append(("_cursor", cursor))
    return f"{base}/{resource_type}" + (f"?{urlencode(pairs)}" if pairs else "")


def _entry(base: str, resource: dict[str, Any], mode: str, request: SearchRequest) -> dict[str, Any]:
    shaped = subset(resource, request.summary, request.elements) if mode == "match" else resource
    return {"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", "resource": shaped,
            "search": {"mode": mode}}


def searchset_bundle(base: str, request: SearchRequest, query: list[tuple[str, str]],
                     page: SearchPage) -> dict[str, Any]:
    """The Bundle for one page; ``query`` is the query as received (links repeat it)."""
    links = [{"relation": "self", "url": _link(base, request.resource_type, query, request.cursor)}]
    if page.next_cursor:
        links.append({"relation": "next", "url": _link(base, request.resource_type, query, page.next_cursor)})
    if page.previous_cursor:
        links.append({"relation": "previous", "url": _link(base, request.resource_type, query,
                                                           page.previous_cursor)})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = links
    entries = [_entry(base, r, "match", request) for r in page.matches]
    entries += [_entry(base, r, "include", request) for r in page.included]
    if request.ignored:
        outcome = operation_outcome("not-supported", "ignored-parameters",
                                    "ignored search parameters: " + ", ".join(sorted(set(request.ignored))),
                                    severity="warning")
        entries.append({"resource": outcome, "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle
