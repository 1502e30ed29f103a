"""The FHIR REST interactions without a web server: a :class:`FhirRequest` in, a :class:`FhirResponse` out.

``routes/fhir.py`` adapts HTTP to this; batch Bundles call it once per entry, so an entry
and the same request over HTTP are answered by the same code.
"""

from __future__ import annotations

from email.utils import format_datetime
from typing import Any

from engine.db.models import utcnow
from engine.fhir_api.bundles import process_bundle
from engine.fhir_api.capabilities import SUPPORTED, capability_statement
from engine.fhir_api.errors import FhirError, bad_request, operation_outcome
from engine.fhir_api.exchange import (
    FhirRequest,
    FhirResponse,
    error_response,
    version_headers,
    version_of,
    write_response,
)
from engine.fhir_api.history import history_bundle, instance_history, type_history
from engine.fhir_api.json_patch import check_patch
from engine.fhir_api.search import search
from engine.fhir_api.search_params import parse_search
from engine.fhir_api.searchset import searchset_bundle
from engine.fhir_api.subsetting import subset
from engine.fhir_api.writes import FhirWriter, WriteUnit, check_type
from engine.repository.resources import WriteOutcome, format_instant
from foundation import decimal_json

#: The version the CapabilityStatement states.
SOFTWARE_VERSION = "0.1.0"


class FhirApi:
    """Answers FHIR interactions on the repository, writing through the :class:`FhirWriter`."""

    def __init__(self, writer: FhirWriter):
        self.writer = writer
        self.repository = writer.repository
        self.database = writer.database

    def handle(self, request: FhirRequest) -> FhirResponse:
        try:
            return self._dispatch(request)
        except FhirError as error:
            return error_response(error)

    def _dispatch(self, request: FhirRequest) -> FhirResponse:
        method, parts = request.method.upper(), [p for p in request.path.split("/") if p]
        if parts == ["metadata"] and method == "GET":
            return FhirResponse(200, capability_statement(request.base, SOFTWARE_VERSION, format_instant(utcnow())))
        if not parts:
            if method == "POST":
                return process_bundle(self, request)
            raise _unsupported(method, "the base")
        check_type(parts[0])
        resource_type, rest = parts[0], parts[1:]
        if not rest:
            return self._on_type(method, resource_type, request)
        if rest == ["_search"] and method == "POST":
            return self.search(resource_type, request)
        if rest == ["_history"] and method == "GET":
            return self._history(request, resource_type, None)
        if len(rest) == 1:
            return self._on_instance(method, resource_type, rest[0], request)
        if rest[1:] == ["_history"] and method == "GET":
            return self._history(request, resource_type, rest[0])
        if len(rest) == 3 and rest[1] == "_history" and method == "GET":
            return self.vread(resource_type, rest[0], rest[2], request)
        raise FhirError(404, "not-found", "unknown-path", "no FHIR interaction has this path")

    def _on_type(self, method: str, resource_type: str, request: FhirRequest) -> FhirResponse:
        if method == "GET":
            return self.search(resource_type, request)
        if method == "POST":
            return self._write(request, lambda unit: unit.create(
                _body(request), if_none_exist=request.headers.get("if-none-exist"), resource_type=resource_type),
                created_status=201)
        if method in ("PUT", "DELETE", "PATCH") and not request.query:
            raise bad_request("missing-criteria", f"a conditional {method} needs search criteria")
        if method == "PUT":
            return self._write(request, lambda unit: unit.conditional_update(
                resource_type, request.criteria, _body(request), if_match=version_of(request.headers.get("if-match"))))
        if method == "DELETE":
            return self._deleted(request, lambda unit: unit.conditional_delete(resource_type, request.criteria))
        if method == "PATCH":
            check_patch(_body(request), request.limits)
            return self._write(request, lambda unit: _patch_match(unit, resource_type, request))
        raise _unsupported(method, "a type")

    def _on_instance(self, method: str, resource_type: str, resource_id: str, request: FhirRequest) -> FhirResponse:
        if method == "GET":
            return self.read(resource_type, resource_id, request)
        if_match = version_of(request.headers.get("if-match"))
        if method == "PUT":
            return self._write(request, lambda unit: unit.update(resource_type, resource_id, _body(request),
                                                                 if_match=if_match))
        if method == "PATCH":
            check_patch(_body(request), request.limits)  # before the write transaction, which applies it
            return self._write(request, lambda unit: unit.patch(resource_type, resource_id, _body(request),
                                                                if_match=if_match))
        if method == "DELETE":
            return self._deleted(request, lambda unit: unit.delete(resource_type, resource_id))
        raise _unsupported(method, "an instance")

    # Reading -------------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str, request: FhirRequest) -> FhirResponse:
        with self.database.read() as session:
            resource = WriteUnit(session, self.repository, self.database).current_or_fail(resource_type, resource_id)
        meta = resource["meta"]
        headers = version_headers(resource_type, resource_id, int(meta["versionId"]), meta.get("lastUpdated"),
                                  request.base)
        del headers["Location"]
        if request.headers.get("if-none-match", "").strip() == headers["ETag"]:
            return FhirResponse(304, None, headers)
        params = dict(request.query)
        elements = params["_elements"].split(",") if params.get("_elements") else None
        return FhirResponse(200, subset(resource, params.get("_summary"), elements), headers)

    def vread(self, resource_type: str, resource_id: str, version: str, request: FhirRequest) -> FhirResponse:
        # isascii: str.isdigit() also takes digits int() refuses ("²"); past 64 bits no version exists.
        if not (version.isascii() and version.isdigit()) or int(version) >= 2 ** 63:
            raise FhirError(404, "not-found", "unknown-version", "a version id is a number")
        with self.database.read() as session:
            found = self.repository.version(session, resource_type, resource_id, int(version))
        if found is None:
            raise FhirError(404, "not-found", "unknown-version", f"{resource_type}/{resource_id} has no version "
                            f"{int(version)}")
        headers = {"ETag": f'W/"{found.version_id}"',
                   "Last-Modified": format_datetime(found.last_updated, usegmt=True)}
        if found.content is None:
            return FhirResponse(410, operation_outcome("deleted", "deleted-version", "this version is a deletion"),
                                headers)
        return FhirResponse(200, decimal_json.loads(found.content), headers)

    def search(self, resource_type: str, request: FhirRequest) -> FhirResponse:
        strict = request.prefer("handling") == "strict"
        search_request = parse_search(resource_type, request.query, SUPPORTED, strict=strict, limits=request.limits)
        with self.database.read() as session:
            page = search(session, search_request)
        return FhirResponse(200, searchset_bundle(request.base, search_request, request.query, page))

    def _history(self, request: FhirRequest, resource_type: str, resource_id: str | None) -> FhirResponse:
        with self.database.read() as session:
            if resource_id is None:
                versions, next_query = type_history(session, resource_type, request.query)
            else:
                versions, next_query = instance_history(session, self.repository, resource_type, resource_id)
                if not versions:
                    raise FhirError(404, "not-found", "unknown-resource", f"{resource_type}/{resource_id} is not "
                                    "known")
        path = f"{resource_type}/{resource_id}/_history" if resource_id else f"{resource_type}/_history"
        return FhirResponse(200, history_bundle(request.base, path, request.query, versions, next_query))

    # Writing -------------------------------------------------------------------------------

    def _write(self, request: FhirRequest, action, created_status: int = 201) -> FhirResponse:
        with self.writer.unit(limits=request.limits) as unit:
            outcome = action(unit)
        return write_response(outcome, request, created_status)

    def _deleted(self, request: FhirRequest, action) -> FhirResponse:
        with self.writer.unit(limits=request.limits) as unit:
            outcome = action(unit)
        message = "deleted" if outcome else "nothing to delete"
        return FhirResponse(200, operation_outcome("informational", "deleted" if outcome else "nothing-deleted",
                                                   message, severity="information"))


def _patch_match(unit: WriteUnit, resource_type: str, request: FhirRequest) -> WriteOutcome:
    found = unit.find(resource_type, request.criteria)
    if len(found) != 1:
        raise FhirError(412 if found else 404, "conflict" if found else "not-found",
                        "multiple-matches" if found else "no-match", "a conditional patch needs exactly one match")
    return unit.patch(resource_type, found[0], _body(request), if_match=version_of(request.headers.get("if-match")))


def _body(request: FhirRequest) -> Any:
    if request.body is None:
        raise bad_request("missing-body", "this interaction needs a body")
    return request.body


def _unsupported(method: str, target: str) -> FhirError:
    return FhirError(405, "not-supported", "unsupported-interaction", f"{method} on {target} is not supported")
