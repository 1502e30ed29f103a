"""Compiles the HL7 paths integrators write in configs (``PID-5``, ``PID-3[*]``, ``OBX-5.1``,
``PV1-7[2].2``, ``OBX[*]-5``, ``.4.1``) into readers over a parsed message.

A path names a segment, optionally which of its occurrences (``[*]`` all, ``[n]`` the
n-th, default the first), a field, optionally which repetitions (default the first), and
optionally a component and subcomponent. A path starting with ``.`` is relative to the
item a config is iterating over (one repetition of ``PV1-7[*]``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from foundation.errors import CarebridgeError
from mappings.v2.message import HL7_NULL, Rep, Segment

_PATH = re.compile(
    r"^(?P<segment>[A-Z][A-Z0-9]{2})(?:\[(?P<occurrence>\*|[1-9][0-9]*)\])?"
    r"-(?P<field>[1-9][0-9]*)(?:\[(?P<repetition>\*|[1-9][0-9]*)\])?"
    r"(?:\.(?P<component>[1-9][0-9]*)(?:\.(?P<subcomponent>[1-9][0-9]*))?)?$"
)
_RELATIVE = re.compile(r"^\.(?:(?P<component>[1-9][0-9]*)(?:\.(?P<subcomponent>[1-9][0-9]*))?)?$")

ALL = "*"


class PathSyntaxError(CarebridgeError, ValueError):
    """A config names an HL7 path this reader does not understand."""


@dataclass(frozen=True)
class Scope:
    """Where paths are read: segments ``start`` to ``end`` of the message (an OBR and its
    OBXs), the whole message for segments outside that range, the item being iterated
    (one repetition of ``PV1-7[*]``), and resource instances pinned by an ``each_ref``."""

    message: list[Segment]
    start: int = 0
    end: int | None = None
    item: Rep | None = None
    pinned: tuple = ()

    @property
    def stop(self) -> int:
        return len(self.message) if self.end is None else self.end

    def contains(self, other: "Scope") -> bool:
        return self.start <= other.start and other.stop <= self.stop

    def positions(self, name: str) -> list[int]:
        """Indexes of the segments called ``name`` in this scope."""
        return [i for i in range(self.start, self.stop) if self.message[i].name == name]

    def find(self, name: str) -> list[Segment]:
        found = [self.message[i] for i in self.positions(name)]
        if found or (self.start == 0 and self.stop == len(self.message)):
            return found
        # Outside the group: the nearest such segment before it (the OBR an OBX is under),
        # else any in the message (the PID a whole message shares).
        for index in range(self.start - 1, -1, -1):
            if self.message[index].name == name:
                return [self.message[index]]
        return [s for s in self.message if s.name == name]


@dataclass(frozen=True)
class Reading:
    """What a path found: the values (each shaped as a repetition) and whether the sender
    sent the explicit null ``""`` there."""

    values: list[Rep]
    null: bool = False


def _narrow(rep: Rep, component: int | None, subcomponent: int | None) -> Rep | None:
    """The part of a repetition a path names, shaped as a repetition so converters take it."""
    if component is None:
        return rep
    if component > len(rep):
        return None
    parts = rep[component - 1]
    if subcomponent is None:
        return [[s] for s in parts]
    return [[parts[subcomponent - 1]]] if subcomponent <= len(parts) else None


def is_empty(rep: Rep | None) -> bool:
    return rep is None or all(s == "" for c in rep for s in c)


def is_null(rep: Rep | None) -> bool:
    return rep is not None and len(rep) == 1 and rep[0] == [HL7_NULL]


@dataclass(frozen=True)
class Path:
    """A compiled path; call :meth:`read` with a scope."""

    text: str
    segment: str | None
    occurrence: str | int
    field: int
    repetition: str | int
    component: int | None
    subcomponent: int | None

    @property
    def location(self) -> str:
        """The segment-field an error names (``PID-7``), never a value."""
        return f"{self.segment}-{self.field}" if self.segment else f"(item){self.text}"

    def segments(self, scope: Scope) -> list[Segment]:
        """The occurrences of this path's segment that it reads."""
        found = scope.find(self.segment)
        if self.occurrence == ALL:
            return found
        return found[self.occurrence - 1: self.occurrence] if self.occurrence <= len(found) else []

    def read(self, scope: Scope) -> Reading:
        if self.segment is None:
            reps = [scope.item] if scope.item is not None else []
            return self._collect(reps)
        reps = []
        for segment in self.segments(scope):
            field = segment.field(self.field)
            if self.repetition == ALL:
                reps.extend(field)
            elif self.repetition <= len(field):
                reps.append(field[self.repetition - 1])
        return self._collect(reps)

    def _collect(self, reps: list[Rep]) -> Reading:
        values, null = [], False
        for rep in reps:
            part = _narrow(rep, self.component, self.subcomponent)
            if is_null(part):
                null = True
            elif not is_empty(part):
                values.append(part)
        return Reading(values, null and not values)


def compile_path(text: str) -> Path:
    """Compile a path string; raise :class:`PathSyntaxError` saying what is wrong."""
    match = _PATH.match(text.strip())
    if match:
        def number(group: str, default: str | int) -> str | int:
            value = match.group(group)
            return default if value is None else (ALL if value == ALL else int(value))

        return Path(
            text=text, segment=match.group("segment"), occurrence=number("occurrence", 1),
            field=int(match.group("field")), repetition=number("repetition", 1),
            component=number("component", None), subcomponent=number("subcomponent", None),
        )
    match = _RELATIVE.match(text.strip())
    if match:
        component, subcomponent = match.group("component"), match.group("subcomponent")
        return Path(text=text, segment=None, occurrence=1, field=0, repetition=1,
                    component=int(component) if component else None,
                    subcomponent=int(subcomponent) if subcomponent else None)
    raise PathSyntaxError(f"not an HL7 path: {text!r} (expected e.g. PID-5, PID-3[*], OBX-5.1, PV1-7[2].2)")
