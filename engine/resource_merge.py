"""How a mapped resource updates the stored one, and how resources of one message that name
the same thing become one: top-level merge, explicit nulls, accumulated lists, initial values.

A message updates a stored resource element by element: what it carries replaces the stored
element, what it nulls (``clear``) is removed, what it omits is kept. Two refinements come
from the mapping config: an ``accumulate`` element (identifiers, appointment participants)
keeps the stored entries the message does not repeat, matched by the members the config
names; an ``initial`` element (a status the trigger event cannot tell) is used only when
nothing is stored.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from mappings.result import MappedResource


def _entry_key(entry: Any, members: list[str]) -> str:
    """What makes two entries of an accumulated list the same (``system`` and ``value``)."""
    if not isinstance(entry, dict):
        return json.dumps(entry, sort_keys=True)
    return json.dumps([entry.get(m) for m in members], sort_keys=True)


def union(kept: list, incoming: list, members: list[str]) -> list:
    """``kept`` in its order, each entry replaced by the incoming one with the same key, then
    the incoming entries that are new."""
    incoming_by_key = {}
    for entry in incoming:
        incoming_by_key.setdefault(_entry_key(entry, members), entry)
    result, seen = [], set()
    for entry in kept:
        key = _entry_key(entry, members)
        if key in seen:
            continue
        seen.add(key)
        result.append(incoming_by_key.get(key, entry))
    for key, entry in incoming_by_key.items():
        if key not in seen:
            seen.add(key)
            result.append(entry)
    return result


def _remove_path(resource: dict[str, Any], dotted: str) -> None:
    """Remove ``period.end`` from a resource; a parent left empty goes too."""
    top, *rest = dotted.split(".")
    if not rest:
        resource.pop(top, None)
        return
    holder = resource.get(top)
    if not isinstance(holder, dict):
        return
    holder = copy.deepcopy(holder)
    node = holder
    for part in rest[:-1]:
        node = node.get(part)
        if not isinstance(node, dict):
            return
    node.pop(rest[-1], None)
    if _is_empty(holder):
        resource.pop(top, None)
    else:
        resource[top] = _pruned(holder)


def _is_empty(node: Any) -> bool:
    if isinstance(node, dict):
        return all(_is_empty(v) for v in node.values())
    if isinstance(node, list):
        return all(_is_empty(v) for v in node)
    return node is None


def _pruned(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _pruned(v) for k, v in node.items() if not _is_empty(v)}
    return node


def merge_update(stored: dict[str, Any], resource: dict[str, Any], item: MappedResource) -> dict[str, Any]:
    """The new version of ``stored`` after ``resource`` (``item``'s content, references
    already rewritten) is applied to it."""
    merged = {k: v for k, v in stored.items() if k != "meta"}
    for dotted in item.clear:
        if dotted.split(".")[0] not in resource:
            _remove_path(merged, dotted)
    for key, value in resource.items():
        if key in item.initial and key in merged:
            continue
        members = item.accumulate.get(key)
        if members and isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = union(merged[key], value, members)
        else:
            merged[key] = value
    return merged


def fold(first: MappedResource, later: MappedResource) -> None:
    """Make ``first`` stand for both: two resources of one message with the same identity
    (PV1-7 and PV1-17 naming one doctor) are one resource. ``later`` wins element by element,
    as a later message would; accumulated lists are joined."""
    combined = dict(first.resource)
    initial = set(first.initial)
    for key, value in later.resource.items():
        members = later.accumulate.get(key) or first.accumulate.get(key)
        if key == "resourceType":
            continue
        if key in later.initial and key in combined:
            continue
        if members and isinstance(value, list) and isinstance(combined.get(key), list):
            combined[key] = union(combined[key], value, members)
        else:
            combined[key] = value
        if key in later.initial:
            initial.add(key)
        else:
            initial.discard(key)
    first.resource = combined
    first.clear = sorted({c for c in (*first.clear, *later.clear) if c.split(".")[0] not in combined})
    first.initial = sorted(initial & set(combined))
    first.accumulate = {**later.accumulate, **first.accumulate}
    first.identity = first.identity + [pair for pair in later.identity if pair not in first.identity]
