"""Carepatron as a destination: the HTTP side of docs/carepatron-contract.md.

Field names come from the field maps in ``mappings/carepatron/``; this module knows only the
transport: the ``cp-api-key`` header, create-or-update by the key each field map names,
``Idempotency-Key``, a 409 naming the existing record, multipart file uploads and their size limit, problem+json errors,
``Retry-After`` and which statuses are worth retrying.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from typing import Any

import requests

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
    Skipped,
    Throttle,
    Throttled,
)
from mappings.field_maps import FieldMap, FieldMaps, FieldMissing, MissingReference, UploadSource

log = logging.getLogger(__name__)

#: Seconds to wait for a connection to Carepatron.
CONNECT_TIMEOUT_SECONDS = 5.0
#: Names the delivery and attempt on every request (``"17.2"``), so a request seen at Carepatron
#: can be matched with its sync-log row; it carries no patient data.
ATTEMPT_HEADER = "X-Carebridge-Attempt"
#: Largest file Carepatron accepts (25 MiB); larger ones are parked without being sent.
MAX_FILE_BYTES = 25 * 1024 * 1024


class _Failure(Exception):
    def __init__(self, outcome: Outcome):
        self.outcome = outcome


class CarepatronDestination:
    """Delivers resources to Carepatron's API.

    Example::

        carepatron = CarepatronDestination("carepatron", "https://api.carepatron.com/v1", key,
                                           FieldMaps.load(Path("mappings/carepatron")))
    """

    def __init__(self, name: str, base_url: str, api_key: str, field_maps: FieldMaps, timeout_seconds: float = 30.0,
                 throttle: Throttle | None = None, max_file_bytes: int = MAX_FILE_BYTES):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.field_maps = field_maps
        self.timeout = (CONNECT_TIMEOUT_SECONDS, timeout_seconds)
        self.throttle = throttle
        self.max_file_bytes = max_file_bytes
        self._local = threading.local()
        self._sessions = ThreadSessions({"cp-api-key": self.api_key, "Accept": "application/json"})

    @property
    def _session(self) -> requests.Session:
        return self._sessions.get()

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        where = f"{method} {path.split('?')[0]}"
        if self.throttle is not None:
            wait = self.throttle.wait()
            if wait is not None:
                raise _Failure(Throttled(f"{where}: the engine's rate limit for {self.name} is used up", wait,
                                         tuple(self._sent)))
        self._sent.append(where)
        headers = {**kwargs.pop("headers", {}), ATTEMPT_HEADER: self._local.attempt}
        try:
            response = self._session.request(method, self.base_url + path, timeout=self.timeout, headers=headers,
                                             allow_redirects=False, **kwargs)
        except requests.Timeout:
            raise _Failure(RetryLater(f"{where}: Carepatron did not answer in time")) from None
        except requests.RequestException as exc:
            raise _Failure(RetryLater(f"{where}: cannot reach Carepatron ({type(exc).__name__})")) from None
        refused = redirect_refusal(response)
        if refused is not None:
            raise _Failure(Rejected(f"{where}: {refused}"))
        if response.status_code == 429:
            raise _Failure(RetryLater(f"{where}: rate limited (HTTP 429)", retry_after_seconds(response)))
        if is_passing(response.status_code):
            raise _Failure(RetryLater(f"{where}: {problem_text(response)}", retry_after_seconds(response)))
        return response

    @property
    def _sent(self) -> list[str]:
        """The requests made so far for the delivery this thread is carrying out."""
        return self._local.__dict__.setdefault("sent", [])

    def _find(self, collection: str, key_field: str, external_id: str) -> str | None:
        response = self._call("GET", collection, params={key_field: external_id})
        if response.status_code != 200:
            raise _Failure(Rejected(f"GET {collection}: {problem_text(response)}"))
        for item in response.json().get("items") or []:
            if item.get(key_field) == external_id:
                return item.get("id")
        return None

    # Delivering ------------------------------------------------------------------------

    def deliver(self, item: DeliveryItem) -> Outcome:
        self._sent.clear()
        self._local.attempt = f"{item.delivery_id}.{item.attempt}"
        field_map = self.field_maps.for_resource(item.resource)
        if field_map is None:
            return Rejected(f"no Carepatron field map for {item.resource['resourceType']}")
        removal = field_map.removal_for(item.resource, item.deleted)
        if removal is not None and not removal.fields:
            what = "deleted" if item.deleted else "marked as removed"
            return Skipped(f"{item.reference} was {what}; Carepatron has no way to remove a {field_map.kind}, "
                           "so it was not propagated")
        try:
            body, collection = field_map.render(item.resource, item.remote_id_of)
        except MissingReference as exc:
            if removal is not None:
                return Skipped(f"{item.reference} was removed and Carepatron never received what it belongs to")
            return NeedsDependency(exc.reference)
        except FieldMissing as exc:
            return Rejected(f"{item.resource['resourceType']} cannot be sent as a Carepatron {field_map.kind}: {exc}")
        try:
            if removal is not None:
                return self._remove(collection, {**body, **removal.fields}, item, field_map)
            if field_map.upload is not None:
                return self._upload(collection, body, item, field_map)
            return self._upsert(collection, body, item, field_map)
        except _Failure as failure:
            return failure.outcome

    def _remote_id(self, collection: str, body: dict, item: DeliveryItem, field_map: FieldMap) -> str | None:
        external_id = field_map.external_key(body)
        return item.remote_id or (self._find(collection, field_map.external_id_field, external_id)
                                  if external_id else None)

    def _remove(self, collection: str, body: dict, item: DeliveryItem, field_map: FieldMap) -> Outcome:
        remote_id = self._remote_id(collection, body, item, field_map)
        if remote_id is None:
            return Skipped(f"{item.reference} was removed before Carepatron received it; nothing to change")
        return self._put(collection, remote_id, body, f"{field_map.kind} marked removed")

    def _put(self, collection: str, remote_id: str, body: dict, detail: str) -> Outcome:
        response = self._call("PUT", f"{collection}/{remote_id}", json=body)
        if response.status_code in (200, 201, 204):
            return Delivered(remote_id, f"{detail}: {collection}/{remote_id}")
        return Rejected(f"PUT {collection}: {problem_text(response)}")

    def _upsert(self, collection: str, body: dict, item: DeliveryItem, field_map: FieldMap) -> Outcome:
        remote_id = self._remote_id(collection, body, item, field_map)
        if remote_id:
            response = self._call("PUT", f"{collection}/{remote_id}", json=body)
            if response.status_code in (200, 201, 204):
                return Delivered(remote_id, f"updated {collection}/{remote_id}")
            if response.status_code != 404:  # 404: deleted at Carepatron, so create it again
                return Rejected(f"PUT {collection}: {problem_text(response)}")
        response = self._call("POST", collection, json=body, headers={"Idempotency-Key": item.idempotency_key})
        return self._created(collection, response, field_map, lambda existing: self._put(
            collection, existing, body, "updated (it existed)"))

    def _created(self, collection: str, response: requests.Response, field_map: FieldMap, on_existing) -> Outcome:
        if response.status_code in (200, 201):
            created = response.json().get("id")
            return Delivered(created, f"created {collection}/{created}")
        if response.status_code == 409:
            existing = (response.json() or {}).get(field_map.existing_id_field) if field_map.existing_id_field else None
            if existing:
                return on_existing(existing)
        return Rejected(f"POST {collection}: {problem_text(response)}")

    def _upload(self, collection: str, body: dict, item: DeliveryItem, field_map: FieldMap) -> Outcome:
        remote_id = self._remote_id(collection, body, item, field_map)
        if remote_id:
            # The contract has no way to replace a file's bytes: the one uploaded stands.
            return Delivered(remote_id, f"already uploaded as {collection}/{remote_id}; Carepatron files are not replaced")
        source = field_map.upload_source(item.resource)
        content, content_type = self._file_bytes(source, item)
        if len(content) > self.max_file_bytes:
            return Rejected(f"the file is {len(content)} bytes; Carepatron accepts at most {self.max_file_bytes} "
                            f"bytes ({self.max_file_bytes // (1024 * 1024)} MiB), so it was not sent")
        file_name = (source.file_name if source else None) or f"{item.resource['id']}"
        response = self._call("POST", collection, data={k: str(v) for k, v in body.items()},
                              files={"file": (file_name, content, content_type or "application/octet-stream")},
                              headers={"Idempotency-Key": item.idempotency_key})
        if response.status_code == 413:
            return Rejected(f"POST {collection}: {problem_text(response)} (file too large for Carepatron)")
        return self._created(collection, response, field_map, lambda existing: Delivered(
            existing, f"already uploaded as {collection}/{existing}"))

    @staticmethod
    def _file_bytes(source: UploadSource | None, item: DeliveryItem) -> tuple[bytes, str | None]:
        data, content_type = (source.data, source.content_type) if source else (None, None)
        if data is None and source is not None and source.url:
            reference = source.url.split("/fhir/", 1)[-1]
            if not reference.startswith("Binary/"):
                raise _Failure(Rejected(f"the attachment url of {item.reference} is not a local Binary reference"))
            binary = item.resource_of(reference)
            if binary is None:
                raise _Failure(Rejected(f"{item.reference} names {reference}, which is not in the repository"))
            data, content_type = binary.get("data"), content_type or binary.get("contentType")
        if not data:
            raise _Failure(Rejected(f"{item.reference} has no file content to upload"))
        try:
            return base64.b64decode(data, validate=True), content_type
        except binascii.Error:
            raise _Failure(Rejected(f"the file content of {item.reference} is not valid base64")) from None

    def ping(self) -> bool:
        try:
            answer = requests.get(self.base_url + "/ping", timeout=self.timeout, allow_redirects=False)
            return answer.status_code == 200
        except requests.RequestException:
            return False
