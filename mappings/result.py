"""What a mapper hands the pipeline: the FHIR resources one inbound message becomes.

A mapping never touches the database. It returns resources whose references to each
other are ``urn:uuid:`` placeholders (as in a FHIR transaction Bundle), each with the
identity that makes it the same as a stored resource. The FHIR repository resolves
identities and placeholders and writes new versions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class MappedResource:
    """One resource produced by a mapping.

    Example::

        MappedResource(
            resource={"resourceType": "Patient", "name": [{"family": "Doe"}]},
            identity=[("identifier", "urn:oid:1.2.3|12345")],
        )
    """

    resource: dict[str, Any]
    #: Search criteria (parameter, value) that find the stored resource this one
    #: updates; any one matching is enough. Empty: always a new resource.
    identity: list[tuple[str, str]] = field(default_factory=list)
    #: Elements the message explicitly nulled (HL7 ``""``): removed on update. Top-level
    #: (``birthDate``) or inside an object (``period.end``). Elements absent from
    #: ``resource`` and not listed here keep their stored value.
    clear: list[str] = field(default_factory=list)
    #: List elements merged by group on update: element -> the members whose values make a
    #: group (``identifier``: system, value; ``participant``: actor.type). The message's
    #: entries of a group replace the stored ones of that group; other stored groups are kept.
    accumulate: dict[str, list[str]] = field(default_factory=dict)
    #: List elements -> entries the message removes (an AIP with action code D), each reduced
    #: to the members that find it (``{"actor": {...}}``): a stored entry whose values of
    #: those members are equal is dropped on update.
    remove: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Elements whose value is for a new resource only: an update keeps the stored value.
    initial: list[str] = field(default_factory=list)
    #: Placeholder other resources of the same message use to refer to this one.
    full_url: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    #: Whether an update replaces the stored resource whole instead of merging.
    replace: bool = False

    @property
    def resource_type(self) -> str:
        return self.resource["resourceType"]


@dataclass
class MappingResult:
    """The outcome of mapping one message: its resources, in dependency order."""

    message_type: str
    resources: list[MappedResource] = field(default_factory=list)
    #: Human-readable notes for operators (fields dropped on purpose, defaults applied).
    notes: list[str] = field(default_factory=list)

    def as_collection_bundle(self) -> dict[str, Any]:
        """A FHIR Bundle of type ``collection`` holding the mapped resources (the dry run's output)."""
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": r.full_url, "resource": r.resource} for r in self.resources],
        }
