"""What the FHIR API supports: its resource types, interactions and search parameters, and the
CapabilityStatement that states exactly that (built from the same tables the server uses).
"""

from __future__ import annotations

from typing import Any

from engine.repository.search_index import parameters_for

#: The resource types the FHIR API serves; any other type is a 404 naming these.
SUPPORTED_TYPES: tuple[str, ...] = (
    "Patient", "Practitioner", "PractitionerRole", "Organization", "Location", "Encounter", "Appointment",
    "DocumentReference", "Binary", "Observation", "Invoice", "ChargeItem",
)
SUPPORTED = frozenset(SUPPORTED_TYPES)

#: Interactions every supported type has.
TYPE_INTERACTIONS = ("read", "vread", "update", "patch", "delete", "history-instance", "history-type", "create",
                     "search-type")

#: Search parameters every type has besides its indexed ones.
COMMON_SEARCH = (
    {"name": "_id", "type": "token", "documentation": "The logical id"},
    {"name": "_lastUpdated", "type": "date", "documentation": "When the resource last changed"},
)

#: Search result parameters the server honours (stated in the CapabilityStatement's documentation).
RESULT_PARAMETERS_DOC = ("Supports _count, _sort, _total, _summary (true, text, data, count, false), _elements, "
                         "_include and _revinclude over reference parameters; string modifiers :exact :contains; "
                         "token modifier :not; :missing on all; date prefixes eq ne gt lt ge le sa eb ap "
                         "(and > >= < <= for gt ge lt le, as fhirclient sends them). Paging: pages follow a snapshot "
                         "taken on the first page; a resource updated meanwhile comes again later in "
                         "its new version rather than being skipped.")


def unsupported_type_message(resource_type: str) -> str:
    return (f"resource type {resource_type!r} is not supported; supported types: "
            + ", ".join(SUPPORTED_TYPES))


def _resource(resource_type: str) -> dict[str, Any]:
    params = {p.name: p for p in parameters_for(resource_type)}
    references = [p.name for p in params.values() if p.type == "reference"]
    entry: dict[str, Any] = {
        "type": resource_type,
        "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "searchParam": [*COMMON_SEARCH, *({"name": p.name, "type": p.type} for p in params.values())],
    }
    if references:
        entry["searchInclude"] = [f"{resource_type}:{name}" for name in references]
    revincludes = [f"{other}:{p.name}" for other in SUPPORTED_TYPES for p in
                   {q.name: q for q in parameters_for(other)}.values()
                   if p.type == "reference" and (not p.targets or resource_type in p.targets)]
    if revincludes:
        entry["searchRevInclude"] = revincludes
    return entry


def capability_statement(base_url: str, software_version: str, date: str) -> dict[str, Any]:
    """The CapabilityStatement of this server, at ``base_url``."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Carebridge",
        "kind": "instance",
        "software": {"name": "Carebridge", "version": software_version},
        "implementation": {"description": "Carebridge FHIR R4 API", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/json"],
        "patchFormat": ["application/json-patch+json", "application/merge-patch+json"],
        "rest": [{
            "mode": "server",
            "documentation": RESULT_PARAMETERS_DOC,
            "security": security(base_url),
            "resource": [_resource(t) for t in SUPPORTED_TYPES] + [AUDIT_EVENT],
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
        }],
    }


def token_url(base_url: str) -> str:
    """The token endpoint beside the FHIR base: ``https://h/fhir`` -> ``https://h/auth/token``."""
    root = base_url[: -len("/fhir")] if base_url.endswith("/fhir") else base_url
    return f"{root}/auth/token"


def security(base_url: str) -> dict[str, Any]:
    """``rest.security``: SMART on FHIR, with the token endpoint in the OAuth URIs extension."""
    return {
        "cors": False,
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                 "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}],
                     "text": "OAuth2 client credentials (SMART Backend Services) with SMART v1 and v2 system scopes"}],
        "extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                       "extension": [{"url": "token", "valueUri": token_url(base_url)}]}],
        "description": "Send Authorization: Bearer <access token> from POST /auth/token (grant_type "
                       "client_credentials); see /.well-known/smart-configuration.",
    }


#: The audit trail, read-only (system/AuditEvent.rs).
AUDIT_EVENT: dict[str, Any] = {
    "type": "AuditEvent",
    "interaction": [{"code": "read"}, {"code": "search-type"}],
    "searchParam": [{"name": n, "type": t} for n, t in (("agent", "token"), ("entity", "reference"),
                                                          ("date", "date"), ("action", "token"),
                                                          ("outcome", "token"))],
}
