"""The simulator's records: create, replace, get and list, one lock around all of them.

The store enforces what spans records: a reference must name an existing record, an
``externalId`` is unique within its kind, lists page by an opaque cursor.
"""

from __future__ import annotations

import base64
import copy
import secrets
import threading
from typing import Any

from .problems import Problem
from .resources import KINDS, Kind

#: Page size of a list when the request names no ``limit``.
DEFAULT_PAGE_SIZE = 50

#: Largest ``limit`` a list accepts.
MAX_PAGE_SIZE = 100

# Position of a record in its kind's insertion order; never sent, only used for cursors.
_SEQ = "_seq"


class Store:
    """Thread-safe records of every kind, each a dict as the API returns it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in KINDS}
        self._contents: dict[str, bytes] = {}
        self._seq = 0

    def reset(self) -> None:
        with self._lock:
            for records in self._records.values():
                records.clear()
            self._contents.clear()

    def create(
        self,
        kind: Kind,
        body: dict[str, Any],
        *,
        parent_id: str | None = None,
        content: bytes | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Validate and store a new record; ``extra`` holds read-only fields the server sets."""
        with self._lock:
            scope = self._parent_scope(kind, parent_id, status=422)
            self._check(kind, body, read_only=scope)
            self._check_external_id_free(kind, body.get("externalId"), own_id=None)
            self._seq += 1
            record = {"id": f"{kind.id_prefix}_{secrets.token_hex(8)}", **scope}
            record.update({name: value for name, value in body.items() if name not in scope})
            record.update(extra or {})
            record[_SEQ] = self._seq
            self._records[kind.name][record["id"]] = record
            if content is not None:
                self._contents[record["id"]] = content
            return _public(record)

    def replace(
        self, kind: Kind, record_id: str, body: dict[str, Any], *, parent_id: str | None = None
    ) -> dict[str, Any]:
        """Full replace: fields the body leaves out are gone afterwards."""
        with self._lock:
            current = self._get(kind, record_id, parent_id)
            scope = self._parent_scope(kind, parent_id, status=404)
            self._check(kind, body, read_only={"id": record_id, **scope})
            self._check_external_id_free(kind, body.get("externalId"), own_id=record_id)
            record = {"id": record_id, **scope}
            record.update({name: value for name, value in body.items() if name not in record})
            record[_SEQ] = current[_SEQ]
            self._records[kind.name][record_id] = record
            return _public(record)

    def get(self, kind: Kind, record_id: str, *, parent_id: str | None = None) -> dict[str, Any]:
        with self._lock:
            return _public(self._get(kind, record_id, parent_id))

    def list(
        self,
        kind: Kind,
        query: dict[str, str],
        *,
        parent_id: str | None = None,
    ) -> dict[str, Any]:
        """One page: ``{"items": [...], "nextCursor": str | None}``."""
        filters = {name: value for name, value in query.items() if name not in ("limit", "cursor")}
        unknown = sorted(set(filters) - kind.filters)
        if unknown:
            raise Problem(
                400,
                "unknown-query-parameter",
                f"{kind.name} cannot be filtered by {', '.join(unknown)}",
                errors={name: ["is not a filter of this list"] for name in unknown},
            )
        limit = _limit(query.get("limit"))
        after = _decode_cursor(query["cursor"]) if "cursor" in query else 0
        with self._lock:
            scope = self._parent_scope(kind, parent_id, status=404)
            matches = [
                record
                for record in self._records[kind.name].values()
                if record[_SEQ] > after
                and all(record.get(name) == value for name, value in scope.items())
                and all(_matches(record.get(name), name, value) for name, value in filters.items())
            ]
        page = matches[:limit]
        more = len(matches) > limit
        return {
            "items": [_public(record) for record in page],
            "nextCursor": _encode_cursor(page[-1][_SEQ]) if more else None,
        }

    def records(self, kind_name: str) -> list[dict[str, Any]]:
        """Every record of a kind, oldest first (for tests and ``/_sim``)."""
        with self._lock:
            return [_public(record) for record in self._records[kind_name].values()]

    def content(self, file_id: str) -> bytes:
        with self._lock:
            return self._contents[file_id]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {name: len(records) for name, records in self._records.items()}

    def _get(self, kind: Kind, record_id: str, parent_id: str | None) -> dict[str, Any]:
        record = self._records[kind.name].get(record_id)
        if record is None or (kind.parent and record.get("clientId") != parent_id):
            raise Problem(404, "not-found", f"No {kind.name} record has id {record_id}.")
        return record

    def _parent_scope(self, kind: Kind, parent_id: str | None, *, status: int) -> dict[str, str]:
        """The fields a nested record takes from its path (a note's ``clientId``)."""
        if kind.parent is None:
            return {}
        if parent_id not in self._records[kind.parent]:
            raise Problem(
                status,
                "unknown-reference",
                f"No {kind.parent} record has id {parent_id}.",
                errors={"clientId": [f"names no {kind.parent} record"]},
            )
        return {"clientId": parent_id}

    def _check(self, kind: Kind, body: Any, *, read_only: dict[str, Any]) -> None:
        errors = kind.validate(body, read_only)
        if not errors:
            for name, target in kind.references.items():
                value = body.get(name)
                if value is not None and value not in self._records[target]:
                    errors[name] = [f"names no {target} record"]
        if errors:
            raise Problem(422, "validation-failed", "The body breaks the contract.", errors=errors)

    def _check_external_id_free(self, kind: Kind, external_id: Any, *, own_id: str | None) -> None:
        if external_id is None:
            return
        for record in self._records[kind.name].values():
            if record.get("externalId") == external_id and record["id"] != own_id:
                raise Problem(
                    409,
                    "duplicate-external-id",
                    f"A {kind.name} record already has this externalId.",
                    errors={"externalId": ["is already used"]},
                    existingId=record["id"],
                )


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {name: copy.deepcopy(value) for name, value in record.items() if name != _SEQ}


def _matches(stored: Any, name: str, wanted: str) -> bool:
    if name == "email":
        return isinstance(stored, str) and stored.casefold() == wanted.casefold()
    return stored == wanted


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise Problem(
            400,
            "invalid-limit",
            f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}.",
            errors={"limit": [f"must be 1 to {MAX_PAGE_SIZE}"]},
        )
    return int(raw)


def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, seq = text.split(":")
        if prefix == "after":
            return int(seq)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        pass
    raise Problem(400, "invalid-cursor", "cursor is not one this API returned.",
                  errors={"cursor": ["is not valid"]})
