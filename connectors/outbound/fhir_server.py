"""Any FHIR R4 server as a destination.

A resource goes to ``PUT [base]/[type]/[id]`` when the engine knows its id there (the
cross-reference); otherwise to a conditional update, ``PUT [base]/[type]?identifier=<system>|<local id>``,
on an identifier the engine adds: its own logical id, never a patient's identifier, so no
patient data reaches a URL. References to other resources are rewritten to their ids at the
server; one the server does not hold yet is delivered first. A deletion is ``DELETE``.
"""

from __future__ import annotations

import copy
from typing import Any

import requests

from connectors.outbound.client_credentials import ClientCredentials, TokenUnavailable
from connectors.outbound.http_answers import is_passing, problem_text, retry_after_seconds
from connectors.outbound.http_session import ThreadSessions
from connectors.outbound.redirects import redirect_refusal
from engine.delivery.destination import (
    Delivered,
    DeliveryItem,
    NeedsDependency,
    Outcome,
    Rejected,
    RetryLater,
    Throttle,
    Throttled,
)
from foundation import decimal_json

#: The identifier system carrying the engine's logical id, for conditional updates.
DEFAULT_IDENTIFIER_SYSTEM = "urn:carebridge:resource-id"
#: Resource types whose references are sent as they are (they need not exist at the server).
UNRESOLVED_TYPES = frozenset({"Binary"})


class _Missing(Exception):
    def __init__(self, reference: str):
        self.reference = reference


def _rewrite_references(node: Any, remote_id_of) -> Any:
    """Replace every local ``Type/id`` reference by the server's id of it; raise _Missing when unknown."""
    if isinstance(node, list):
        return [_rewrite_references(item, remote_id_of) for item in node]
    if not isinstance(node, dict):
        return node
    rewritten = {}
    for key, value in node.items():
        if key == "reference" and isinstance(value, str) and value.count("/") == 1 and "://" not in value \
                and not value.startswith("#") and value.split("/")[0] not in UNRESOLVED_TYPES:
            remote = remote_id_of(value)
            if remote is None:
                raise _Missing(value)
            rewritten[key] = f"{value.split('/')[0]}/{remote}"
        else:
            rewritten[key] = _rewrite_references(value, remote_id_of)
    return rewritten


class FhirServerDestination:
    """Keeps a FHIR R4 server's copy of each routed resource current.

    Example::

        server = FhirServerDestination("hie", "https://hie.example.org/fhir")
    """

    def __init__(self, name: str, base_url: str, identifier_system: str = DEFAULT_IDENTIFIER_SYSTEM,
                 timeout_seconds: float = 30.0, headers: dict[str, str] | None = None,
                 throttle: Throttle | None = None, auth: ClientCredentials | None = None):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.identifier_system = identifier_system
        self.timeout = timeout_seconds
        self.headers = {"Accept": "application/fhir+json", **(headers or {})}
        self.throttle = throttle
        self._sessions = ThreadSessions(self.headers)
        #: OAuth2 client credentials when the server wants a bearer token.
        self.auth = auth

    @property
    def _session(self) -> requests.Session:
        return self._sessions.get()

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response | Outcome:
        if self.throttle is not None and (wait := self.throttle.wait()) is not None:
            return Throttled(f"the engine's rate limit for {self.name} is used up", wait)
        try:
            response = self._session.request(method, self.base_url + path, timeout=self.timeout, auth=self.auth,
                                             allow_redirects=False, **kwargs)
        except TokenUnavailable as exc:
            return RetryLater(f"{method} {path.split('?')[0]}: no access token: {exc}")
        except requests.Timeout:
            return RetryLater(f"{method} {path.split('?')[0]}: the FHIR server did not answer in time")
        except requests.RequestException as exc:
            return RetryLater(f"{method} {path.split('?')[0]}: cannot reach the FHIR server ({type(exc).__name__})")
        refused = redirect_refusal(response)
        if refused is not None:
            return Rejected(f"{method} {path.split('?')[0]}: {refused}")
        if response.status_code == 401 and self.auth is not None:
            # The token was revoked or expired early: the next attempt fetches another.
            self.auth.forget()
            return RetryLater(f"{method} {path.split('?')[0]}: the FHIR server refused the access token")
        if is_passing(response.status_code):
            return RetryLater(f"{method} {path.split('?')[0]}: {problem_text(response)}", retry_after_seconds(response))
        return response

    def deliver(self, item: DeliveryItem) -> Outcome:
        resource_type = item.resource["resourceType"]
        local_id = item.resource["id"]
        if item.deleted:
            return self._delete(item, resource_type, local_id)
        try:
            body = _rewrite_references(copy.deepcopy(item.resource), item.remote_id_of)
        except _Missing as missing:
            return NeedsDependency(missing.reference)
        body.pop("meta", None)  # the server keeps its own versions
        identifiers = [i for i in body.get("identifier") or [] if i.get("system") != self.identifier_system]
        if resource_type != "Binary":
            body["identifier"] = identifiers + [{"system": self.identifier_system, "value": local_id}]
        if item.remote_id:
            body["id"] = item.remote_id
            path, params = f"/{resource_type}/{item.remote_id}", None
        else:
            body.pop("id", None)
            path, params = f"/{resource_type}", {"identifier": f"{self.identifier_system}|{local_id}"}
        answer = self._call("PUT", path, params=params, data=decimal_json.dumps(body, compact=True).encode("utf-8"),
                            headers={"Content-Type": "application/fhir+json"})
        if not isinstance(answer, requests.Response):
            return answer
        if answer.status_code in (200, 201):
            remote_id = item.remote_id or self._id_of(answer)
            return Delivered(remote_id, f"{'updated' if answer.status_code == 200 else 'created'} "
                                        f"{resource_type}/{remote_id}")
        return Rejected(f"PUT {resource_type}: {problem_text(answer)}")

    def _delete(self, item: DeliveryItem, resource_type: str, local_id: str) -> Outcome:
        if item.remote_id:
            answer = self._call("DELETE", f"/{resource_type}/{item.remote_id}")
        else:
            answer = self._call("DELETE", f"/{resource_type}",
                                params={"identifier": f"{self.identifier_system}|{local_id}"})
        if not isinstance(answer, requests.Response):
            return answer
        if answer.status_code in (200, 202, 204, 404, 410):
            return Delivered(item.remote_id, f"deleted {resource_type} at the FHIR server")
        return Rejected(f"DELETE {resource_type}: {problem_text(answer)}")

    @staticmethod
    def _id_of(response: requests.Response) -> str | None:
        try:
            found = response.json().get("id")
        except ValueError:
            found = None
        if found:
            return found
        location = response.headers.get("Location") or response.headers.get("Content-Location") or ""
        parts = location.split("/_history")[0].rstrip("/").split("/")
        return parts[-1] if location else None

    def ping(self) -> bool:
        answer = self._call("GET", "/metadata")
        return isinstance(answer, requests.Response) and answer.status_code == 200
