"""The FHIR R4 REST API at ``/fhir``: HTTP in and out of :class:`engine.fhir_api.interactions.FhirApi`.

This blueprint does only what needs HTTP: media types (JSON only: XML is a 406 or 415),
parsing the body, the base URL the client called (``X-Forwarded-*`` honoured, so links
work behind a proxy), and turning every failure into an OperationOutcome.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import HTTPException

from engine.access.audit_search import search_audit
from engine.access.fhir_scopes import ScopedFhirApi, interaction_of
from engine.access.scopes import ResourceScope
from engine.fhir_api.errors import FhirError, operation_outcome
from engine.fhir_api.exchange import FhirRequest, FhirResponse
from engine.fhir_api.interactions import FhirApi
from engine.fhir_api.limits import FhirLimits
from foundation import decimal_json
from foundation.code_trace import code_trace
from routes.access_guard import audit, caller
from routes.auth import smart_configuration
from routes.engine_runtime import current_runtime

log = logging.getLogger(__name__)

fhir = Blueprint("fhir", __name__, url_prefix="/fhir")

#: FHIR's JSON media type, what every answer is sent as.
FHIR_JSON = "application/fhir+json"
#: Media types read as FHIR JSON (real clients send both).
JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
#: Media types of a patch: JSON Patch, or JSON Merge Patch (fhirpy sends an object as application/json).
PATCH_TYPES = JSON_TYPES | {"application/json-patch+json", "application/merge-patch+json"}
#: What ``Accept`` or ``_format`` may name for a JSON answer.
ACCEPTABLE = JSON_TYPES | {"*/*", "application/*", "json", "fhir+json"}
#: XML in any spelling: refused with 406 (answer) or 415 (body).
XML_TYPES = {"application/fhir+xml", "application/xml", "text/xml", "application/xml+fhir", "xml"}
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
#: Where the app keeps the FHIR API's limits.
LIMITS = "carebridge.fhir_limits"


@fhir.record_once
def _read_limits(state) -> None:
    """The limits are read once, as the app is built: a bad value stops the engine at start."""
    with state.app.app_context():
        state.app.extensions[LIMITS] = FhirLimits.from_environ(current_runtime().settings.environ)


def _media_types(header: str) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in header.split(",") if part.strip()]


def base_url(path: str) -> str:
    """The absolute base the client called, e.g. ``https://ehr-gw.example/fhir``."""
    proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
    prefix = request.headers.get("X-Forwarded-Prefix", "").rstrip("/")
    mount = request.path[: len(request.path) - len(path)].rstrip("/") if path else request.path.rstrip("/")
    return f"{proto}://{host}{prefix}{request.script_root}{mount}"


def _check_answer_format() -> None:
    wanted = request.args.get("_format")
    if wanted and wanted.lower() not in ACCEPTABLE:
        raise FhirError(406, "not-supported", "unsupported-format", "only JSON is supported (_format)")
    accept = _media_types(request.headers.get("Accept", ""))
    if accept and not any(t in ACCEPTABLE for t in accept):
        raise FhirError(406, "not-supported", "unsupported-format",
                        "only application/fhir+json or application/json can be returned")


def _body(path: str, limits: FhirLimits):
    data = request.get_data(cache=True)
    content_type = (request.mimetype or "").lower()
    if request.method == "POST" and path.endswith("_search"):
        return None
    if not data:
        return None
    if content_type in XML_TYPES or content_type.endswith("+xml"):
        raise FhirError(415, "not-supported", "unsupported-media-type", "XML is not supported: send FHIR JSON")
    allowed = PATCH_TYPES if request.method == "PATCH" else JSON_TYPES
    if content_type and content_type not in allowed:
        raise FhirError(415, "not-supported", "unsupported-media-type",
                        f"Content-Type must be one of {', '.join(sorted(allowed))}")
    try:
        return decimal_json.loads(data, max_depth=limits.max_json_depth)
    except decimal_json.TooDeep:
        raise limits.too_deep() from None
    except (ValueError, UnicodeDecodeError):
        raise FhirError(400, "structure", "unparseable-json", "the body is not valid JSON") from None


def _query(path: str) -> list[tuple[str, str]]:
    pairs = list(request.args.items(multi=True))
    if request.method == "POST" and path.endswith("_search"):
        if request.mimetype and request.mimetype != "application/x-www-form-urlencoded":
            raise FhirError(415, "not-supported", "unsupported-media-type",
                            "POST _search takes application/x-www-form-urlencoded")
        pairs += list(request.form.items(multi=True))
    return pairs


def _respond(answer: FhirResponse) -> Response:
    body = decimal_json.dumps(answer.body) if answer.body is not None else ""
    response = Response(body, status=answer.status, mimetype=FHIR_JSON if body else None)
    if body:
        response.headers["Content-Type"] = f"{FHIR_JSON}; charset=utf-8"
    for name, value in answer.headers.items():
        response.headers[name] = value
    return response


@fhir.route("/", defaults={"path": ""}, methods=METHODS, strict_slashes=False)
@fhir.route("/<path:path>", methods=METHODS)
def interact(path: str) -> Response:
    try:
        _check_answer_format()
        limits = current_app.extensions[LIMITS]
        fhir_request = FhirRequest(
            # HEAD is a GET whose body the server leaves out (Werkzeug does that).
            method="GET" if request.method == "HEAD" else request.method, path=path, base=base_url(path), query=_query(path),
            headers={k.lower(): v for k, v in request.headers.items()}, body=_body(path, limits), limits=limits)
    except FhirError as error:
        return _respond(FhirResponse(error.status, error.outcome()))
    if path.strip("/") == ".well-known/smart-configuration":
        return smart_configuration()
    if path.split("/")[0] == "metadata":
        return _respond(FhirApi(current_runtime().fhir_writer).handle(fhir_request))
    answer = _audit_trail(fhir_request) if path.split("/")[0] == "AuditEvent" else _interact(fhir_request)
    subtype, resource_type, resource_id = interaction_of(fhir_request.method, path, fhir_request.body)
    audit(subtype, "fhir", status=answer.status, entity_type=resource_type, entity_id=resource_id,
          query=[k for k, _ in fhir_request.query])
    return _respond(answer)


def _interact(fhir_request: FhirRequest) -> FhirResponse:
    runtime = current_runtime()
    grant = caller().grant
    if grant is None or grant.unrestricted:
        return FhirApi(runtime.fhir_writer).handle(fhir_request)
    return ScopedFhirApi(runtime.fhir_writer, grant).handle(fhir_request)


def _audit_trail(fhir_request: FhirRequest) -> FhirResponse:
    """The audit trail needs a scope that names AuditEvent (``system/AuditEvent.rs``): ``system/*`` is not enough."""
    grant = caller().grant
    letter = "r" if len([p for p in fhir_request.path.split("/") if p]) == 2 else "s"
    if grant is not None and not grant.unrestricted and not any(
            isinstance(s, ResourceScope) and s.resource_type == "AuditEvent" and letter in s.letters
            for s in grant.scopes):
        return FhirResponse(403, operation_outcome("forbidden", "insufficient-scope",
                                                   f"the access token lacks the scope system/AuditEvent.{letter}"))
    try:
        return search_audit(current_runtime().access.audit, fhir_request)
    except FhirError as error:
        return FhirResponse(error.status, error.outcome())


@fhir.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    code = (error.name or "error").lower().replace(" ", "-")
    return _respond(FhirResponse(error.code or 500, operation_outcome(
        "processing" if (error.code or 500) >= 500 else "invalid", code, error.description or error.name)))


def _is_fhir_url() -> bool:
    """Whether the URL lies under the FHIR base (the blueprint's routes take every path there)."""
    return request.path == fhir.url_prefix or request.path.startswith(f"{fhir.url_prefix}/")


@fhir.app_errorhandler(HTTPException)
def routing_error(error: HTTPException):
    """Routing errors (TRACE on a FHIR URL is a 405 before any view runs) go to the app's handlers,
    never the blueprint's: on FHIR URLs they are OperationOutcomes too, elsewhere Flask's own."""
    return http_error(error) if _is_fhir_url() else error


@fhir.errorhandler(Exception)
def internal_error(error: Exception) -> Response:
    # Where, not what: exception messages (SQL parameters, say) may carry patient data.
    log.error("FHIR API internal error%s", code_trace(error))
    return _respond(FhirResponse(500, operation_outcome("exception", "internal-error",
                                                         "the server failed to process the request")))
