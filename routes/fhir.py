"""The FHIR R4 REST API (first cut: read and identifier search); every error is an OperationOutcome."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from engine.models import ResourceRecord

fhir = Blueprint("fhir", __name__)

#: FHIR's JSON media type.
FHIR_JSON = "application/fhir+json"


def operation_outcome(status: int, code: str, diagnostics: str, expression: str | None = None):
    issue = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    response = jsonify({"resourceType": "OperationOutcome", "issue": [issue]})
    response.status_code = status
    response.mimetype = FHIR_JSON
    return response


def _fhir_response(body: dict, status: int = 200):
    response = jsonify(body)
    response.status_code = status
    response.mimetype = FHIR_JSON
    return response


@fhir.get("/<resource_type>/<resource_id>")
def read(resource_type: str, resource_id: str):
    runtime = current_app.extensions["carebridge"]
    with runtime.database.read() as session:
        record = session.get(ResourceRecord, (resource_type, resource_id))
        if record is None:
            return operation_outcome(404, "not-found", f"{resource_type}/{resource_id} is not known")
        if record.deleted:
            return operation_outcome(410, "deleted", f"{resource_type}/{resource_id} was deleted")
        response = current_app.response_class(record.content, mimetype=FHIR_JSON)
        response.headers["ETag"] = f'W/"{record.version_id}"'
        return response


@fhir.get("/<resource_type>")
def search(resource_type: str):
    runtime = current_app.extensions["carebridge"]
    identifier = request.args.get("identifier")
    with runtime.database.read() as session:
        ids = runtime.repository.ids_with_token(session, resource_type, "identifier", identifier) if identifier else []
        entries = []
        for resource_id in ids:
            resource = runtime.repository.current(session, resource_type, resource_id)
            if resource:
                entries.append({"fullUrl": f"{request.url_root}fhir/{resource_type}/{resource_id}",
                                "resource": resource, "search": {"mode": "match"}})
    return _fhir_response({"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries})
