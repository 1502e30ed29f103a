"""SMART on FHIR scopes, parsed once into a :class:`Grant` that answers "may this token do that?".

Both generations are read: v2 (``system/Patient.rs``, ``system/*.cruds``,
``system/Observation.rs?category=vital-signs``) and v1 (``system/Patient.read``,
``system/*.write``, ``system/*.*``). Only the ``system/`` context applies: Carebridge's clients
are backend services, with no user or patient launch context. ``hl7.send`` lets a client post
HL7 v2 to ``POST /hl7``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from foundation.errors import CarebridgeError

#: The interactions a v2 scope grants, in the order SMART writes them.
LETTERS = "cruds"
#: What a v1 permission means in v2 letters.
V1_PERMISSIONS = {"read": "rs", "write": "cud", "*": "cruds"}
#: Scopes that are not about FHIR resources.
HL7_SEND = "hl7.send"
OTHER_SCOPES = frozenset({HL7_SEND})
#: Interaction letters by name, for messages.
LETTER_NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}

_RESOURCE_SCOPE = re.compile(r"^system/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<permission>[a-z*]+)(?:\?(?P<query>.+))?$")


class InvalidScope(CarebridgeError):
    """A scope string Carebridge does not understand (it names the scope, never a value)."""


@dataclass(frozen=True)
class ResourceScope:
    """``system/<type>.<letters>[?query]``: the letters granted on one type (or ``*``)."""

    resource_type: str
    letters: frozenset[str]
    #: A v2 query form: the granted resources are those matching these search parameters.
    query: tuple[tuple[str, str], ...] = ()
    text: str = ""

    def covers(self, other: "ResourceScope") -> bool:
        """Whether this scope grants at least what ``other`` asks for."""
        return ((self.resource_type == "*" or self.resource_type == other.resource_type)
                and other.letters <= self.letters
                and set(self.query) <= set(other.query))


def parse_scope(text: str) -> ResourceScope | str:
    """A resource scope, or one of :data:`OTHER_SCOPES` as is; :class:`InvalidScope` otherwise."""
    if text in OTHER_SCOPES:
        return text
    match = _RESOURCE_SCOPE.match(text)
    if not match:
        raise InvalidScope(f"{text!r} is not a system/ scope Carebridge grants")
    permission = match["permission"]
    if permission in V1_PERMISSIONS:
        letters = V1_PERMISSIONS[permission]
    elif permission and all(c in LETTERS for c in permission) and _in_order(permission):
        letters = permission
    else:
        raise InvalidScope(f"{text!r}: the permission must be read, write, * or letters of 'cruds' in that order")
    query = tuple(sorted(parse_qsl(match["query"] or "", keep_blank_values=True)))
    if match["query"] and not query:
        raise InvalidScope(f"{text!r}: the query form needs name=value parameters")
    if query and set(letters) - {"r", "s"}:
        raise InvalidScope(f"{text!r}: a scope with a query grants reading only (r, s)")
    return ResourceScope(match["type"], frozenset(letters), query, text)


def _in_order(letters: str) -> bool:
    positions = [LETTERS.index(c) for c in letters]
    return positions == sorted(set(positions))


def parse_scopes(text: str) -> list[ResourceScope | str]:
    return [parse_scope(part) for part in text.split()]


@dataclass(frozen=True)
class Grant:
    """What one access token may do."""

    scopes: tuple[ResourceScope | str, ...] = ()
    #: Everything (authentication off on loopback).
    unrestricted: bool = False
    text: str = field(default="", compare=False)

    @classmethod
    def from_text(cls, text: str) -> "Grant":
        return cls(tuple(parse_scopes(text)), text=" ".join(text.split()))

    @classmethod
    def everything(cls) -> "Grant":
        return cls(unrestricted=True, text="system/*.cruds hl7.send")

    def has(self, scope: str) -> bool:
        return self.unrestricted or scope in self.scopes

    def _resource_scopes(self, resource_type: str, letter: str) -> list[ResourceScope]:
        return [s for s in self.scopes if isinstance(s, ResourceScope)
                and s.resource_type in ("*", resource_type) and letter in s.letters]

    def allows(self, resource_type: str, letter: str) -> bool:
        """Whether some scope grants ``letter`` (one of ``cruds``) on ``resource_type``, with or without a query."""
        return self.unrestricted or bool(self._resource_scopes(resource_type, letter))

    def restriction(self, resource_type: str, letter: str) -> list[tuple[tuple[str, str], ...]] | None:
        """``None`` when ``letter`` is granted on every resource of the type; else the queries
        (any one suffices) a resource must match to be granted."""
        if self.unrestricted:
            return None
        found = self._resource_scopes(resource_type, letter)
        if any(not s.query for s in found):
            return None
        return [s.query for s in found]

    def narrowed_to(self, requested: str) -> "Grant":
        """The grant a token request for ``requested`` scopes gets: each must be covered by one of
        this client's scopes (:class:`InvalidScope` otherwise)."""
        wanted = parse_scopes(requested)
        for scope in wanted:
            if isinstance(scope, str):
                if scope not in self.scopes:
                    raise InvalidScope(f"{scope!r} is not granted to this client")
            elif not any(isinstance(mine, ResourceScope) and mine.covers(scope) for mine in self.scopes):
                raise InvalidScope(f"{scope.text!r} is not granted to this client")
        return Grant(tuple(wanted), text=" ".join(requested.split()))


def needed_scope(resource_type: str, letter: str) -> str:
    """The v2 scope that would grant ``letter`` on ``resource_type``, for a 403's message."""
    return f"system/{resource_type}.{letter}"
