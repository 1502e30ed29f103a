"""What a datatype converter needs besides the value: identifier systems, the timezone for
times sent without an offset, and the code tables (all overridable per channel)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from zoneinfo import ZoneInfo

from mappings.v2.message import Rep

#: Looks a code up in a named code table: ``lookup("AdministrativeSex", "F") -> "female"``.
TableLookup = Callable[[str, str], dict[str, Any] | None]


@dataclass
class ConversionContext:
    """Per-mapping settings converters read; built once per config version and channel."""

    authority_systems: dict[str, str]
    default_system: str
    timezone: ZoneInfo
    lookup: TableLookup
    #: The sending facility (MSH-4), the authority of identifiers sent without one.
    sending_facility: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def code(self, table: str, value: str) -> str | None:
        entry = self.lookup(table, value)
        return entry.get("code") if entry else None


def component(rep: Rep, number: int) -> str:
    """Component ``number`` (1-based) of a value, its first subcomponent; '' when absent."""
    if number > len(rep):
        return ""
    parts = rep[number - 1]
    return parts[0] if parts else ""


def subcomponents(rep: Rep, number: int) -> Rep:
    """Component ``number`` as a value of its own (HD inside CX.4), its subcomponents as components."""
    if number > len(rep):
        return []
    return [[s] for s in rep[number - 1]]


def compact(value: dict[str, Any]) -> dict[str, Any]:
    """Drop empty members so converters never emit ``""``, ``[]`` or ``{}`` (invalid FHIR)."""
    return {k: v for k, v in value.items() if v not in (None, "", [], {})}
