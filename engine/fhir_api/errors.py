"""Errors of the FHIR API, each with an HTTP status, a FHIR issue type and a stable Carebridge code.

A :class:`FhirError` turns into an OperationOutcome whose ``issue.details.coding`` carries the
stable code (``unknown-type``, ``version-conflict``...), so a user can search for it. Messages
name elements and parameters, never the values sent: those may be patient data.
"""

from __future__ import annotations

from typing import Any

from foundation.errors import CarebridgeError

#: The code system of Carebridge's stable error codes.
ERROR_CODE_SYSTEM = "urn:carebridge:fhir-api:error"


class FhirError(CarebridgeError):
    """An interaction failed: ``FhirError(404, "not-found", "unknown-resource", "Patient/1 is not known")``."""

    def __init__(self, status: int, issue_type: str, code: str, diagnostics: str,
                 expressions: list[str] | None = None, issues: list[dict[str, Any]] | None = None):
        super().__init__(diagnostics)
        self.status = status
        self.issue_type = issue_type
        self.code = code
        self.diagnostics = diagnostics
        self.expressions = expressions or []
        #: Further issues (one per invalid element), rendered after the first.
        self.extra_issues = issues or []

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.issue_type, self.code, self.diagnostics, self.expressions, self.extra_issues)


def issue(issue_type: str, code: str, diagnostics: str, expressions: list[str] | None = None,
          severity: str = "error") -> dict[str, Any]:
    """One OperationOutcome issue with its stable code."""
    found: dict[str, Any] = {
        "severity": severity, "code": issue_type,
        "details": {"coding": [{"system": ERROR_CODE_SYSTEM, "code": code}]},
        "diagnostics": diagnostics,
    }
    if expressions:
        found["expression"] = expressions
    return found


def operation_outcome(issue_type: str, code: str, diagnostics: str, expressions: list[str] | None = None,
                      extra_issues: list[dict[str, Any]] | None = None, severity: str = "error") -> dict[str, Any]:
    return {"resourceType": "OperationOutcome",
            "issue": [issue(issue_type, code, diagnostics, expressions, severity), *(extra_issues or [])]}


def bad_request(code: str, diagnostics: str, expressions: list[str] | None = None) -> FhirError:
    return FhirError(400, "invalid", code, diagnostics, expressions)


def not_found(code: str, diagnostics: str) -> FhirError:
    return FhirError(404, "not-found", code, diagnostics)


def precondition_failed(code: str, diagnostics: str) -> FhirError:
    return FhirError(412, "conflict", code, diagnostics)
