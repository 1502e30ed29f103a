"""The write service of the FHIR API: resources written by EHRs (and FHIR files) enter the same
line as HL7, so each commit holds the resource versions AND their outbox rows, and the
queue hears of the deliveries only after that commit.

Example::

    writer = FhirWriter(database, repository, router, queue.enqueue)
    outcome = writer.create({"resourceType": "Patient", "name": [{"family": "Doe"}]})
    with writer.unit() as unit:                      # several writes, one transaction
        unit.update("Patient", outcome.id, changed)
        unit.delete("Observation", "obs-1")

Every method raises :class:`engine.fhir_api.errors.FhirError` (status, stable code,
OperationOutcome) when the write cannot be done; nothing is committed then.
"""

from __future__ import annotations

import copy
import logging
import re
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import jsonpatch
from sqlalchemy.orm import Session

from engine.db.database import Database
from engine.fhir_api.capabilities import SUPPORTED, unsupported_type_message
from engine.fhir_api.errors import FhirError, bad_request, issue, not_found, precondition_failed
from engine.fhir_api.json_patch import apply_json_patch
from engine.fhir_api.limits import FhirLimits
from engine.fhir_api.search import matching_ids
from engine.fhir_api.search_params import parse_search, query_pairs
from engine.repository.resources import FhirRepository, VersionConflict, WriteOutcome
from engine.repository.validation import ResourceInvalid
from engine.routing.outbox import announce
from engine.routing.router import API_CHANNEL, Router, Source

log = logging.getLogger(__name__)

#: FHIR's id grammar.
ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def check_type(resource_type: str) -> None:
    if resource_type not in SUPPORTED:
        raise not_found("unsupported-type", unsupported_type_message(resource_type))


def check_id(resource_id: str) -> None:
    if not ID_PATTERN.match(resource_id):
        raise bad_request("invalid-id", "a resource id is 1 to 64 letters, digits, '-' or '.'")


def invalid_resource(exc: ResourceInvalid, resource_type: str) -> FhirError:
    """422 naming each element at fault (never its value)."""
    issues = [issue("structure", "invalid-resource", i.message, [i.expression]) for i in exc.issues]
    first = issues[0]
    return FhirError(422, "structure", "invalid-resource", f"{resource_type} is not valid FHIR R4: "
                     f"{first['diagnostics']}", first.get("expression"), issues[1:])


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch (what fhirpy's ``patch`` sends)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class WriteUnit:
    """The writes of one transaction; its outcomes are routed when the unit commits."""

    def __init__(self, session: Session, repository: FhirRepository, database: Database,
                 limits: FhirLimits | None = None):
        self.session = session
        self.repository = repository
        self.database = database
        #: What a patch or a conditional's criteria may cost.
        self.limits = limits or FhirLimits()
        self.outcomes: list[WriteOutcome] = []
        #: The stored inbound message the writes come from (a dropped file), kept on each version.
        self.message_id: int | None = None

    def find(self, resource_type: str, criteria: str, limit: int | None = 2) -> list[str]:
        """Ids matching a conditional's criteria (``identifier=sys|1``); unknown parameters are refused."""
        check_type(resource_type)
        # Clients send the criteria with or without the ``Type?`` in front.
        request = parse_search(resource_type, query_pairs(criteria.split("?", 1)[-1]), SUPPORTED, strict=True,
                               limits=self.limits)
        if not request.criteria:
            raise bad_request("missing-criteria", "a conditional interaction needs search criteria")
        return matching_ids(self.session, request, limit)

    def _save(self, resource: dict[str, Any], resource_id: str | None, if_match: int | None) -> WriteOutcome:
        resource_type = resource.get("resourceType")
        try:
            outcome = self.repository.save(self.session, resource, resource_id=resource_id, if_match=if_match,
                                           message_id=self.message_id)
        except ResourceInvalid as exc:
            raise invalid_resource(exc, str(resource_type)) from None
        except VersionConflict:
            raise precondition_failed("version-conflict",
                                      f"{resource_type}/{resource_id} is not at the version If-Match names") from None
        self.outcomes.append(outcome)
        return outcome

    def create(self, resource: dict[str, Any], *, if_none_exist: str | None = None,
               resource_id: str | None = None, resource_type: str | None = None) -> WriteOutcome:
        """Create with a server-assigned id (any id sent is ignored, as FHIR says).

        With ``if_none_exist`` (a query): one match is returned unchanged (``created=False``),
        several are a 412. ``resource_id`` is for transactions that assigned one already;
        ``resource_type`` is the type the URL names, which the body must be.
        """
        if resource_type is not None:
            check_body_type(resource, resource_type)
        resource_type = _resource_type(resource)
        if if_none_exist is not None:
            self.database.lock(self.session, f"conditional:{resource_type}:{if_none_exist}")
            found = self.find(resource_type, if_none_exist)
            if len(found) > 1:
                raise precondition_failed("multiple-matches", "If-None-Exist matches more than one resource")
            if found:
                current = self.repository.current(self.session, resource_type, found[0])
                record = self.repository.record(self.session, resource_type, found[0])
                return WriteOutcome(resource_type, found[0], record.version_id, current, created=False, changed=False)
        resource = {k: v for k, v in resource.items() if k != "id"}
        return self._save(resource, resource_id or _new_id(), None)

    def update(self, resource_type: str, resource_id: str, resource: dict[str, Any], *,
               if_match: int | None = None) -> WriteOutcome:
        """Update, or create with the client's id (``created=True``); an identical body makes no version."""
        check_type(resource_type)
        check_id(resource_id)
        check_body_type(resource, resource_type)
        if resource.get("id") != resource_id:
            raise bad_request("id-mismatch", "the body's id must equal the id in the URL")
        return self._save(resource, resource_id, if_match)

    def conditional_update(self, resource_type: str, criteria: str, resource: dict[str, Any], *,
                           if_match: int | None = None) -> WriteOutcome:
        """Update the one match of ``criteria``, create when none, 412 when several."""
        check_type(resource_type)
        check_body_type(resource, resource_type)
        self.database.lock(self.session, f"conditional:{resource_type}:{criteria}")
        found = self.find(resource_type, criteria)
        if len(found) > 1:
            raise precondition_failed("multiple-matches", "the criteria match more than one resource")
        if found:
            if resource.get("id") not in (None, found[0]):
                raise bad_request("id-mismatch", "the body's id is not the id of the resource the criteria match")
            return self.update(resource_type, found[0], {**resource, "id": found[0]}, if_match=if_match)
        if resource.get("id"):
            return self.update(resource_type, resource["id"], resource, if_match=if_match)
        return self.create(resource)

    def patch(self, resource_type: str, resource_id: str, patch: Any, *, if_match: int | None = None) -> WriteOutcome:
        """Apply a JSON Patch (a list of operations) or a JSON Merge Patch (an object)."""
        current = self.current_or_fail(resource_type, resource_id)
        try:
            if isinstance(patch, list):
                patched = apply_json_patch(current, patch, self.limits)
            elif isinstance(patch, dict):
                patched = merge_patch(current, patch)
            else:
                raise bad_request("invalid-patch", "a patch is a JSON Patch array or a JSON Merge Patch object")
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            # The library's message names the operation and path only.
            raise FhirError(422, "processing", "patch-failed", f"the patch cannot be applied: {type(exc).__name__}") from None
        except (TypeError, KeyError, AttributeError):
            raise bad_request("invalid-patch", "the patch is not a well-formed JSON Patch") from None
        if not isinstance(patched, dict) or patched.get("id") != resource_id \
                or patched.get("resourceType") != resource_type:
            raise FhirError(422, "processing", "patch-changes-identity", "a patch may not change id or resourceType")
        return self.update(resource_type, resource_id, patched, if_match=if_match)

    def current_or_fail(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        """The current version, or 404 (unknown) / 410 (deleted)."""
        check_type(resource_type)
        record = self.repository.record(self.session, resource_type, resource_id)
        if record is None:
            raise not_found("unknown-resource", f"{resource_type}/{resource_id} is not known")
        if record.deleted:
            raise FhirError(410, "deleted", "deleted-resource", f"{resource_type}/{resource_id} was deleted")
        return self.repository.current(self.session, resource_type, resource_id)

    def delete(self, resource_type: str, resource_id: str) -> WriteOutcome | None:
        """Delete (history keeps every version); ``None`` when there was nothing to delete."""
        check_type(resource_type)
        outcome = self.repository.delete(self.session, resource_type, resource_id)
        if outcome is not None:
            self.outcomes.append(outcome)
        return outcome

    def conditional_delete(self, resource_type: str, criteria: str) -> WriteOutcome | None:
        """Delete the one match of ``criteria`` (none: ``None``; several: 412)."""
        found = self.find(resource_type, criteria)
        if len(found) > 1:
            raise precondition_failed("multiple-matches", "the criteria match more than one resource")
        return self.delete(resource_type, found[0]) if found else None


def check_body_type(resource: Any, resource_type: str) -> None:
    """Refuse a body whose ``resourceType`` is not the type the URL names (400), or no resource at all (422)."""
    found = resource.get("resourceType") if isinstance(resource, dict) else None
    if isinstance(found, str) and found != resource_type:
        raise bad_request("type-mismatch", f"the body's resourceType is not {resource_type}, the type in the URL",
                          ["resourceType"])
    _resource_type(resource)


def _resource_type(resource: Any) -> str:
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        raise FhirError(422, "structure", "invalid-resource", "the body is not a FHIR resource",
                        ["resourceType"])
    check_type(resource["resourceType"])
    return resource["resourceType"]


def _new_id() -> str:
    return str(uuid.uuid4())


class FhirWriter:
    """Writes FHIR resources and plans their deliveries in one transaction, then queues them."""

    def __init__(self, database: Database, repository: FhirRepository, router: Router,
                 enqueue: Callable[[list[int]], None], channel: str = API_CHANNEL):
        self.database = database
        self.repository = repository
        self.router = router
        self.enqueue = enqueue
        self.source = Source(channel=channel)

    @contextmanager
    def unit(self, source: Source | None = None, limits: FhirLimits | None = None) -> Iterator[WriteUnit]:
        """Writes that commit together with their outbox rows; deliveries are queued after the commit.

        ``limits`` bound the unit's patches and conditional criteria (the defaults when not given)."""
        with self.database.write() as session:
            unit = WriteUnit(session, self.repository, self.database, limits)
            yield unit
            # Deletions are routed too: each destination decides what a delete means there.
            delivery_ids = [d.id for d in self.router.plan(session, unit.outcomes, source or self.source)]
        announce(self.enqueue, delivery_ids)

    def create(self, resource: dict[str, Any], *, if_none_exist: str | None = None) -> WriteOutcome:
        with self.unit() as unit:
            return unit.create(resource, if_none_exist=if_none_exist)

    def update(self, resource_type: str, resource_id: str, resource: dict[str, Any], *,
               if_match: int | None = None) -> WriteOutcome:
        with self.unit() as unit:
            return unit.update(resource_type, resource_id, resource, if_match=if_match)

    def conditional_update(self, resource_type: str, criteria: str, resource: dict[str, Any], *,
                           if_match: int | None = None) -> WriteOutcome:
        with self.unit() as unit:
            return unit.conditional_update(resource_type, criteria, resource, if_match=if_match)

    def patch(self, resource_type: str, resource_id: str, patch: Any, *, if_match: int | None = None) -> WriteOutcome:
        with self.unit() as unit:
            return unit.patch(resource_type, resource_id, patch, if_match=if_match)

    def delete(self, resource_type: str, resource_id: str) -> WriteOutcome | None:
        with self.unit() as unit:
            return unit.delete(resource_type, resource_id)

    def conditional_delete(self, resource_type: str, criteria: str) -> WriteOutcome | None:
        with self.unit() as unit:
            return unit.conditional_delete(resource_type, criteria)
