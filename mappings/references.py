"""References between the resources one message produces.

A spec ``{ref: patient}`` cannot be resolved while its resource is being built (the A40
survivor and the merged patient point at each other), so it yields a
:class:`PendingReference`; once every resource of the message exists, :func:`resolve`
swaps each for ``{"reference": "urn:uuid:..."}`` of the right instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappings.result import MappedResource
from mappings.v2.path import Scope


@dataclass
class Instance:
    """One built resource and the part of the message it was built from."""

    resource_id: str
    mapped: MappedResource
    scope: Scope


@dataclass(frozen=True)
class PendingReference:
    """A reference to resource ``target`` as seen from ``scope``; ``every``: all instances."""

    target: str
    scope: Scope
    every: bool = False
    #: Other members of the Reference (``type``), from the spec's ``defaults``.
    members: tuple = ()

    def instances(self, instances: dict[str, list[Instance]]) -> list[Instance]:
        """The instances meant: the one pinned by ``each_ref``, else the nearest enclosing
        (the OBR of this OBX, the message's Patient), else the first inside this scope."""
        candidates = instances.get(self.target, [])
        for resource_id, instance in self.scope.pinned:
            if resource_id == self.target:
                return [instance]
        inside = [i for i in candidates if self.scope.contains(i.scope)]
        if self.every:
            return inside
        # A message-level resource (the Patient) encloses every scope; an instance from a
        # sibling group (the performer of another FT1) is never meant.
        enclosing = [i for i in candidates if i.scope.contains(self.scope)]
        return enclosing[-1:] or inside[:1]


def resolve(value: Any, instances: dict[str, list[Instance]]) -> Any:
    """``value`` with pending references replaced; a reference to nothing is left out, with
    the object holding it."""
    if isinstance(value, PendingReference):
        found = [{"reference": i.mapped.full_url, **dict(value.members)} for i in value.instances(instances)]
        return found if value.every else (found[0] if found else None)
    if isinstance(value, dict):
        resolved = {}
        for key, member in value.items():
            if isinstance(member, PendingReference) and not member.instances(instances):
                # An object built around a reference to nothing (the performer of an FT1
                # without FT1-20) means nothing: it is left out whole.
                return None
            member = resolve(member, instances)
            if member not in (None, [], {}):
                resolved[key] = member
        return resolved
    if isinstance(value, list):
        items = []
        for item in value:
            item = resolve(item, instances)
            if isinstance(item, list):
                items.extend(item)
            elif item not in (None, {}):
                items.append(item)
        return items
    return value
