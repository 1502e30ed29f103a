"""Field-by-field comparison of a mapping result with a golden JSON file.

References between resources are random ``urn:uuid:`` placeholders; they are compared as
``@n``, the position of the resource referred to, so a golden file says "the Patient"
without knowing its uuid.
"""

from __future__ import annotations

from typing import Any

from mappings.result import MappingResult


def normalise(result: MappingResult) -> dict[str, Any]:
    positions = {r.full_url: f"@{i}" for i, r in enumerate(result.resources)}

    def swap(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (positions.get(v, v) if k == "reference" else swap(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    return {
        "message_type": result.message_type,
        "resources": [{"resource": swap(r.resource), "identity": [list(p) for p in r.identity],
                       "clear": r.clear, **({"replace": True} if r.replace else {}),
                       **({"remove": swap(r.remove)} if r.remove else {})} for r in result.resources],
        "notes": result.notes,
    }


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat = {}
        for key, member in value.items():
            flat.update(flatten(member, f"{prefix}.{key}" if prefix else key))
        return flat or {prefix: {}}
    if isinstance(value, list):
        flat = {}
        for index, member in enumerate(value):
            flat.update(flatten(member, f"{prefix}[{index}]"))
        return flat or {prefix: []}
    return {prefix: value}


def differences(actual: Any, expected: Any) -> list[str]:
    """One line per field that differs, is missing or is unexpected."""
    got, want = flatten(actual), flatten(expected)
    lines = []
    for path in sorted(set(got) | set(want)):
        if path not in got:
            lines.append(f"missing    {path} = {want[path]!r}")
        elif path not in want:
            lines.append(f"unexpected {path} = {got[path]!r}")
        elif got[path] != want[path]:
            lines.append(f"differs    {path}: got {got[path]!r}, expected {want[path]!r}")
    return lines
