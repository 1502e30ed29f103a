"""Carepatron as a destination: the HTTP side of shared/CAREPATRON.md.

Field names come from the field maps in ``mappings/carepatron/``; this module knows only the
transport: the ``cp-api-key`` header, create-or-update by ``externalId``, ``Idempotency-Key``,
``409 existingId``, problem+json errors, ``Retry-After`` and which statuses are worth retrying.
"""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from typing import Any

import requests

from connectors.outbound.base import Delivered, DeliveryItem, NeedsDependency, Outcome, Rejected, RetryLater
from mappings.field_maps import FieldMaps, FieldMissing, MissingReference

log = logging.getLogger(__name__)

#: Seconds to wait for a connection to Carepatron.
CONNECT_TIMEOUT_SECONDS = 5.0
#: Statuses that mean "try again later" besides 5xx.
RETRYABLE_STATUSES = {408, 425, 429}


def retry_after_seconds(response: requests.Response) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) or ``X-RateLimit-Reset`` (epoch seconds), if given."""
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            if parsed is not None:
                return max(parsed.timestamp() - time.time(), 0.0)
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(float(reset) - time.time(), 0.0)
        except ValueError:
            return None
    return None


def problem_text(response: requests.Response) -> str:
    """A one-line account of an error response: status, title, detail and field errors."""
    text = f"HTTP {response.status_code}"
    try:
        problem = response.json()
    except ValueError:
        return f"{text} {response.reason or ''}".strip()
    if not isinstance(problem, dict):
        return text
    for key in ("title", "detail"):
        if problem.get(key):
            text += f": {problem[key]}"
    errors = problem.get("errors")
    if isinstance(errors, dict) and errors:
        text += " (" + "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                                 for k, v in errors.items()) + ")"
    return text


class _Failure(Exception):
    def __init__(self, outcome: Outcome):
        self.outcome = outcome


class CarepatronDestination:
    """Delivers resources to Carepatron's API.

    Example::

        carepatron = CarepatronDestination("carepatron", "https://api.carepatron.com/v1", key,
                                           FieldMaps.load(Path("mappings/carepatron")))
    """

    def __init__(self, name: str, base_url: str, api_key: str, field_maps: FieldMaps, timeout_seconds: float = 30.0):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.field_maps = field_maps
        self.timeout = (CONNECT_TIMEOUT_SECONDS, timeout_seconds)
        self._local = threading.local()

    @property
    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update({"cp-api-key": self.api_key, "Accept": "application/json",
                                    "User-Agent": "Carebridge"})
            self._local.session = session
        return session

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise _Failure(RetryLater(f"{method} {path.split('?')[0]}: Carepatron did not answer in time")) from None
        except requests.RequestException as exc:
            raise _Failure(RetryLater(f"{method} {path.split('?')[0]}: cannot reach Carepatron ({type(exc).__name__})")) from None
        if response.status_code == 429:
            raise _Failure(RetryLater(f"{method} {path.split('?')[0]}: rate limited (HTTP 429)",
                                      retry_after_seconds(response)))
        if response.status_code >= 500 or response.status_code in RETRYABLE_STATUSES:
            raise _Failure(RetryLater(f"{method} {path.split('?')[0]}: {problem_text(response)}",
                                      retry_after_seconds(response)))
        return response

    def _find(self, collection: str, external_id: str) -> str | None:
        response = self._call("GET", collection, params={"externalId": external_id})
        if response.status_code != 200:
            raise _Failure(Rejected(f"GET {collection}: {problem_text(response)}"))
        for item in response.json().get("items") or []:
            if item.get("externalId") == external_id:
                return item.get("id")
        return None

    def deliver(self, item: DeliveryItem) -> Outcome:
        field_map = self.field_maps.for_resource(item.resource)
        if field_map is None:
            return Rejected(f"no Carepatron field map for {item.resource['resourceType']}")
        try:
            body, collection = field_map.render(item.resource, item.remote_id_of)
        except MissingReference as exc:
            return NeedsDependency(exc.reference)
        except FieldMissing as exc:
            return Rejected(f"{item.resource['resourceType']} cannot be sent as a Carepatron {field_map.kind}: {exc}")
        try:
            return self._upsert(collection, body, item)
        except _Failure as failure:
            return failure.outcome

    def _upsert(self, collection: str, body: dict, item: DeliveryItem) -> Outcome:
        external_id = body.get("externalId")
        remote_id = item.remote_id or (self._find(collection, external_id) if external_id else None)
        if remote_id:
            response = self._call("PUT", f"{collection}/{remote_id}", json=body)
            if response.status_code in (200, 201, 204):
                return Delivered(remote_id, f"updated {collection}/{remote_id}")
            if response.status_code != 404:  # 404: deleted at Carepatron, so create it again
                return Rejected(f"PUT {collection}: {problem_text(response)}")
        response = self._call("POST", collection, json=body, headers={"Idempotency-Key": item.idempotency_key})
        if response.status_code in (200, 201):
            created = response.json().get("id")
            return Delivered(created, f"created {collection}/{created}")
        if response.status_code == 409:
            existing = (response.json() or {}).get("existingId")
            if existing:
                update = self._call("PUT", f"{collection}/{existing}", json=body)
                if update.status_code in (200, 201, 204):
                    return Delivered(existing, f"updated {collection}/{existing} (it existed)")
                return Rejected(f"PUT {collection}: {problem_text(update)}")
        return Rejected(f"POST {collection}: {problem_text(response)}")

    def ping(self) -> bool:
        try:
            return requests.get(self.base_url + "/ping", timeout=self.timeout).status_code == 200
        except requests.RequestException:
            return False
