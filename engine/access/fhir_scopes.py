"""SMART scopes on every FHIR interaction: what a request needs is worked out before it runs (a
transaction that touches a type outside the token's scopes is refused as a whole), and what a
search, ``_include``/``_revinclude`` or history returns is filtered to what the token may read.

A scope with a query (``system/Observation.rs?category=vital-signs``) grants the resources that
match it: each one returned is checked with the repository's own search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from engine.access.scopes import LETTER_NAMES, Grant, needed_scope
from engine.fhir_api.errors import FhirError, operation_outcome
from engine.fhir_api.exchange import FhirRequest, FhirResponse
from engine.fhir_api.interactions import FhirApi

#: Bundle types whose entries are resources a client reads.
READ_BUNDLES = {"searchset", "history"}


@dataclass(frozen=True)
class Need:
    resource_type: str
    letter: str
    why: str

    @property
    def scope(self) -> str:
        return needed_scope(self.resource_type, self.letter)


class ScopeRefused(FhirError):
    """A valid token without a scope this interaction needs (403 naming the scope)."""

    def __init__(self, need: Need):
        super().__init__(403, "forbidden", "insufficient-scope",
                         f"the access token lacks the scope {need.scope} ({need.why})")
        self.need = need


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def _search_needs(resource_type: str, query: list[tuple[str, str]]) -> list[Need]:
    needs = [Need(resource_type, "s", f"search on {resource_type}")]
    for key, value in query:
        name = key.split(":")[0]
        if name == "_revinclude":
            source = value.split(":")[0]
            if source and source != "*":
                needs.append(Need(source, "s", f"_revinclude of {source}"))
        elif name == "_include":
            target = value.split(":")[2] if value.count(":") >= 2 else ""
            if target:
                needs.append(Need(target, "r", f"_include of {target}"))
        elif key.startswith("_has:"):
            source = key.split(":")[1] if key.count(":") >= 2 else ""
            if source:
                needs.append(Need(source, "s", f"_has on {source}"))
        elif "." in key and not key.startswith("_"):
            head = key.split(".")[0]
            target = head.split(":")[1] if ":" in head else "*"
            needs.append(Need(target, "s", "a chained search" + (f" through {target}" if target != "*" else
                                                                  " without a target type")))
    return needs


def needs_of(method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str]) -> list[Need]:
    """The scopes one interaction needs (a Bundle's are its entries')."""
    method, parts = method.upper(), _parts(path)
    if not parts or parts == ["metadata"]:
        return []
    resource_type, rest = parts[0], parts[1:]
    if not rest:
        if method == "GET":
            return _search_needs(resource_type, query)
        if method == "POST":
            needs = [Need(resource_type, "c", f"create {resource_type}")]
            return needs + ([Need(resource_type, "s", "a conditional create")] if headers.get("if-none-exist") else [])
        letter = {"PUT": "u", "PATCH": "u", "DELETE": "d"}.get(method, "r")
        return [Need(resource_type, letter, f"conditional {LETTER_NAMES[letter]} of {resource_type}"),
                Need(resource_type, "s", "a conditional interaction's search")]
    if rest == ["_search"]:
        return _search_needs(resource_type, query)
    if rest == ["_history"]:
        return [Need(resource_type, "s", f"history of {resource_type}")]
    if len(rest) == 1:
        letter = {"GET": "r", "HEAD": "r", "PUT": "u", "PATCH": "u", "DELETE": "d"}.get(method, "r")
        return [Need(resource_type, letter, f"{LETTER_NAMES[letter]} {resource_type}")]
    return [Need(resource_type, "r", f"read {resource_type} history")]


def transaction_needs(request: FhirRequest) -> list[Need]:
    """Every entry's needs, when the body is a transaction Bundle (one refusal refuses it all)."""
    bundle = request.body
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "transaction":
        return []
    needs = []
    for item in bundle.get("entry") or []:
        entry_request = item.get("request") if isinstance(item, dict) else None
        if not isinstance(entry_request, dict):
            continue  # the API answers a malformed entry with its own 400
        url = str(entry_request.get("url") or "")
        if url.startswith(request.base + "/"):
            url = url[len(request.base) + 1:]
        path, _, query = url.partition("?")
        headers = {"if-none-exist": entry_request["ifNoneExist"]} if entry_request.get("ifNoneExist") else {}
        needs += needs_of(str(entry_request.get("method") or "GET"), path, parse_qsl(query), headers)
    return needs


class ScopedFhirApi(FhirApi):
    """The FHIR API as one access token may use it."""

    def __init__(self, writer, grant: Grant):
        super().__init__(writer)
        self.grant = grant

    def handle(self, request: FhirRequest) -> FhirResponse:
        try:
            self._check(transaction_needs(request) if not _parts(request.path) and request.method == "POST"
                        else needs_of(request.method, request.path, request.query, request.headers))
        except ScopeRefused as refused:
            return FhirResponse(refused.status, refused.outcome())
        response = super().handle(request)
        if response.status < 300 and isinstance(response.body, dict):
            return self._filtered(request, response)
        return response

    def _check(self, needs: list[Need]) -> None:
        for need in needs:
            if not self.grant.allows(need.resource_type, need.letter):
                raise ScopeRefused(need)

    def _filtered(self, request: FhirRequest, response: FhirResponse) -> FhirResponse:
        body = response.body
        if body.get("resourceType") == "Bundle" and body.get("type") in READ_BUNDLES:
            body["entry"] = self._readable_entries(request, body.get("entry") or [])
            return response
        resource_type = body.get("resourceType")
        if resource_type and body.get("id") and request.method == "GET" and _parts(request.path)[:1] == [resource_type]:
            matched = self._matching_ids(request, resource_type, "r", [body["id"]])
            if matched is not None and body["id"] not in matched:
                need = Need(resource_type, "r", f"read this {resource_type}: it is outside the scope's query")
                return FhirResponse(403, ScopeRefused(need).outcome())
        return response

    def _readable_entries(self, request: FhirRequest, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_type: dict[str, list[str]] = {}
        for entry in entries:
            resource = entry.get("resource") or {}
            if resource.get("resourceType") and resource.get("id"):
                by_type.setdefault(resource["resourceType"], []).append(resource["id"])
        allowed: dict[str, set[str] | None] = {}
        for resource_type, ids in by_type.items():
            if resource_type == "OperationOutcome":
                allowed[resource_type] = None
            elif not (self.grant.allows(resource_type, "r") or self.grant.allows(resource_type, "s")):
                allowed[resource_type] = set()
            else:
                allowed[resource_type] = self._matching_ids(request, resource_type, "s", ids)
        kept = []
        for entry in entries:
            resource = entry.get("resource") or {}
            permitted = allowed.get(resource.get("resourceType"))
            if resource and permitted is not None and resource.get("id") not in permitted:
                continue
            kept.append(entry)
        return kept

    def _matching_ids(self, request: FhirRequest, resource_type: str, letter: str, ids: list[str]) -> set[str] | None:
        """``None`` when the grant has no query on the type; else which of ``ids`` match one of its queries."""
        queries = self.grant.restriction(resource_type, letter)
        if queries is None and letter == "s":
            queries = self.grant.restriction(resource_type, "r")
        if queries is None:
            return None
        matched: set[str] = set()
        for query in queries:
            probe = FhirRequest("GET", resource_type, request.base,
                                [("_id", ",".join(ids)), *query, ("_count", str(len(ids))), ("_elements", "id")])
            answer = FhirApi.handle(self, probe)
            for entry in (answer.body or {}).get("entry") or []:
                matched.add((entry.get("resource") or {}).get("id"))
        return matched


def unauthorised(reason: str) -> dict:
    """The OperationOutcome of a 401."""
    return operation_outcome("login", "unauthorized", reason)


def interaction_of(method: str, path: str, body: Any = None) -> tuple[str, str | None, str | None]:
    """The FHIR interaction (AuditEvent subtype), resource type and id of a request."""
    method, parts = method.upper(), _parts(path)
    if not parts:
        kind = body.get("type") if isinstance(body, dict) else None
        return ("batch" if kind == "batch" else "transaction"), None, None
    resource_type, rest = parts[0], parts[1:]
    if not rest or rest == ["_search"]:
        return {"GET": "search-type", "POST": "search-type" if rest else "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete"}.get(method, "search-type"), resource_type, None
    if rest == ["_history"]:
        return "history-type", resource_type, None
    if len(rest) == 1:
        return {"GET": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "read"), \
            resource_type, rest[0]
    if len(rest) == 2:
        return "history-instance", resource_type, rest[0]
    return "vread", resource_type, rest[0]
