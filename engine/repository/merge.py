"""How a mapped resource updates the stored one, and how resources of one message that name
the same thing become one: top-level merge, explicit nulls, accumulated lists, initial values.

A message updates a stored resource element by element: what it carries replaces the stored
element, what it nulls (``clear``) is removed, what it omits is kept. Two refinements come
from the mapping config: an ``accumulate`` element is merged by group, the members the
config names (``identifier``: system and value, so each identifier is its own group;
``Appointment.participant``: ``actor.type``): the message's entries of a group replace the
stored entries of that group, stored groups the message does not send are kept. An entry the
message removes (``remove``: an AIP or AIL with action code D) is dropped from the stored list
wherever the members it carries (``actor``) are equal. An
``initial`` element (a status the trigger event cannot tell) is used only when nothing is
stored.
"""

from __future__ import annotations

import copy
from typing import Any

from foundation import decimal_json
from mappings.result import MappedResource


def _member(entry: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        entry = entry.get(part) if isinstance(entry, dict) else None
    return entry


def _group(entry: Any, members: list[str]) -> str:
    """The group of an entry of an accumulated list: its values of ``members`` (``actor.type``)."""
    return decimal_json.dumps([_member(entry, m) for m in members], sort_keys=True)


def union(kept: list, incoming: list, members: list[str]) -> list:
    """``kept`` with each group ``incoming`` sends replaced, where it stood, by the incoming
    entries of that group; then the incoming groups that are new."""
    sent: dict[str, list] = {}
    for entry in incoming:
        sent.setdefault(_group(entry, members), []).append(entry)
    result, placed = [], set()
    for entry in kept:
        group = _group(entry, members)
        if group not in sent:
            result.append(entry)
        elif group not in placed:
            placed.add(group)
            result.extend(sent[group])
    for group, entries in sent.items():
        if group not in placed:
            result.extend(entries)
    return result


def _without(entries: list, removed: list[dict[str, Any]]) -> list:
    """``entries`` less each one that has the members of a removed entry with equal values."""
    return [e for e in entries
            if not any(isinstance(e, dict) and all(e.get(k) == v for k, v in r.items()) for r in removed if r)]


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


def _apply(into: dict[str, Any], key: str, value: Any, initial: list[str],
           accumulate: dict[str, list[str]]) -> bool:
    """Set one element of an incoming resource on ``into``; ``False`` when it is an initial
    value and ``into`` already has one."""
    if key in initial and key in into:
        return False
    members = accumulate.get(key)
    if members and isinstance(value, list) and isinstance(into.get(key), list):
        into[key] = union(into[key], value, members)
    else:
        into[key] = value
    return True


def merge_update(stored: dict[str, Any], resource: dict[str, Any], item: MappedResource) -> dict[str, Any]:
    """The new version of ``stored`` after ``resource`` (``item``'s content, references
    already rewritten) is applied to it."""
    merged = {k: v for k, v in stored.items() if k != "meta"}
    for dotted in item.clear:
        if dotted.split(".")[0] not in resource:
            _remove_path(merged, dotted)
    for key, value in resource.items():
        _apply(merged, key, value, item.initial, item.accumulate)
    for key, removed in item.remove.items():
        if isinstance(merged.get(key), list):
            merged[key] = _without(merged[key], removed)
            if not merged[key]:
                del merged[key]
    return merged


def fold(first: MappedResource, later: MappedResource) -> None:
    """Make ``first`` stand for both: two resources of one message with the same identity
    (PV1-7 and PV1-17 naming one doctor) are one resource. ``later`` wins element by element,
    as a later message would; accumulated lists are merged."""
    combined = dict(first.resource)
    initial = set(first.initial)
    accumulate = {**later.accumulate, **first.accumulate}
    for key, value in later.resource.items():
        if key != "resourceType" and _apply(combined, key, value, later.initial, accumulate):
            (initial.add if key in later.initial else initial.discard)(key)
    first.resource = combined
    first.clear = sorted({c for c in (*first.clear, *later.clear) if c.split(".")[0] not in combined})
    first.initial = sorted(initial & set(combined))
    first.accumulate = accumulate
    first.remove = {key: first.remove.get(key, []) + later.remove.get(key, [])
                    for key in {**first.remove, **later.remove}}
    first.identity = first.identity + [pair for pair in later.identity if pair not in first.identity]
