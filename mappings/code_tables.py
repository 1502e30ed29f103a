"""Code tables (HL7 table value to FHIR code), compiled from ``kind: code_table`` configs.

A table follows one of the guide's concept maps (``source:``); a channel overrides single
entries. Lookups try the code as sent, then ignoring case, since senders vary the case of
codes such as SCH-25 ``Booked``/``BOOKED``.
"""

from __future__ import annotations

from typing import Any

_UNSET = object()


class CodeTable:
    """One compiled table."""

    def __init__(self, data: dict):
        self.system = data.get("system")
        self.default = data.get("default")
        self.entries: dict[str, dict[str, Any] | None] = {}
        for code, target in (data.get("map") or {}).items():
            code = str(code)
            if isinstance(target, str):
                target = {"code": target}
            if target is not None and self.system and "system" not in target:
                target = {"system": self.system, **target}
            self.entries[code] = target
        self.folded = {code.upper(): target for code, target in self.entries.items()}

    def lookup(self, code: str) -> dict[str, Any] | None:
        found = self.entries.get(code, _UNSET)
        if found is _UNSET:
            found = self.folded.get(code.upper(), _UNSET)
        if found is _UNSET:
            return {"code": self.default, **({"system": self.system} if self.system else {})} if self.default else None
        return found


class CodeTables:
    """All tables in force for a channel, looked up by name."""

    def __init__(self, tables: dict[str, dict]):
        self.tables = {name: CodeTable(data) for name, data in tables.items()}

    def names(self) -> set[str]:
        return set(self.tables)

    def lookup(self, table: str, code: str) -> dict[str, Any] | None:
        compiled = self.tables.get(table)
        return compiled.lookup(code) if compiled and code else None
