"""Compiles one message config (with the segment maps it uses) into a callable that turns
a parsed message into :class:`~mappings.result.MappedResource` objects.

Resources are built in config order (dependencies first); each is built once from its
``segment``, or once per segment / repetition named by ``each``, optionally inside each
instance of another resource (``within``: each OBX under its OBR).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from mappings import fhir_shape
from mappings.compiler import CompileError, Known, Run, assemble, compile_condition, compile_members, iterate
from mappings.datatypes import CONVERTERS
from mappings.errors import MappingError
from mappings.references import Instance, resolve
from mappings.result import MappedResource
from mappings.v2.path import PathSyntaxError, Scope, compile_path


@dataclass
class Sourced:
    """A piece of config and where it came from, so a compile error names file and key path."""

    value: Any
    source: str
    where: tuple


@dataclass
class ResourceDefinition:
    """A message config's resource after segment maps and overrides are merged in."""

    id: str
    type: str
    source: str
    where: tuple
    raw: dict
    fields: dict[str, Sourced] = field(default_factory=dict)
    identity: list[Sourced] = field(default_factory=list)
    require: list[Sourced] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    accumulate: dict[str, list[str]] = field(default_factory=dict)


class SourcedCompileError(CompileError):
    def __init__(self, source: str, where: tuple, message: str):
        super().__init__(where, message)
        self.source = source


def _identity(item: Sourced, known: Known) -> Callable[[dict, Scope, Run], list[tuple[str, str]]]:
    spec = item.value
    param = spec["param"]
    if "from" in spec:
        element = spec["from"]

        def from_element(resource: dict, scope: Scope, run: Run) -> list[tuple[str, str]]:
            found = resource.get(element) or []
            found = found if isinstance(found, list) else [found]
            return [(param, f"{i['system']}|{i['value']}") for i in found
                    if isinstance(i, dict) and i.get("system") and i.get("value")]
        return from_element
    if "path" not in spec:
        raise SourcedCompileError(item.source, item.where, "identity needs from or path")
    try:
        path = compile_path(spec["path"])
    except PathSyntaxError as exc:
        raise SourcedCompileError(item.source, item.where + ("path",), str(exc)) from None
    converter = CONVERTERS[spec.get("type", "CX")]

    def from_path(resource: dict, scope: Scope, run: Run) -> list[tuple[str, str]]:
        found = [converter(rep, run.context) for rep in path.read(scope).values]
        return [(param, f"{i['system']}|{i['value']}") for i in found if i and i.get("system") and i.get("value")]
    return from_path


@dataclass
class ResourcePlan:
    """A compiled resource definition."""

    id: str
    type: str
    scopes: Callable[[Scope, Run], list[Scope]]
    condition: Callable[[Scope, Run], bool] | None
    require: list
    members: list
    identity: list
    replace: bool
    #: list element -> members that make two entries the same; kept and joined on update.
    accumulate: dict[str, list[str]]
    #: top-level element -> the HL7 location its value came from, for validation errors.
    locations: dict[str, str]

    def build(self, scope: Scope, run: Run) -> Instance | None:
        if self.condition is not None and not self.condition(scope, run):
            return None
        for path in self.require:
            if not path.read(scope).values:
                raise MappingError(path.location, "required field is empty")
        made = assemble(self.members, scope, run)
        resource = {"resourceType": self.type, **made.built}
        cleared = {n for n in made.nulls if n.split(".")[0] not in resource}
        # A cleared primitive takes its extensions along (birthDate's birth time in _birthDate).
        cleared |= {f"_{n}" for n in cleared if any(key == f"_{n}" for key, _, _ in self.members)} - set(resource)
        # A member cleared inside an element that is cleared whole says nothing more.
        cleared = {n for n in cleared if not any(n.startswith(f"{other}.") for other in cleared)}
        mapped = MappedResource(resource=resource, replace=self.replace, clear=sorted(cleared),
                                accumulate=self.accumulate, initial=made.initial, remove=made.removed)
        return Instance(self.id, mapped, scope)


def _scopes(definition: ResourceDefinition, known_ids: list[str]) -> Callable[[Scope, Run], list[Scope]]:
    scopes = _anchor_scopes(definition, known_ids)
    if "item" not in definition.raw:
        return scopes
    item = compile_path(definition.raw["item"])

    def with_item(scope: Scope, run: Run) -> list[Scope]:
        found = []
        for s in scopes(scope, run):
            values = item.read(s).values
            if values:
                found.append(Scope(s.message, s.start, s.end, values[0], s.pinned))
        return found
    return with_item


def _anchor_scopes(definition: ResourceDefinition, known_ids: list[str]) -> Callable[[Scope, Run], list[Scope]]:
    raw = definition.raw
    if "each" in raw:
        split = iterate(raw["each"], definition.where + ("each",))
        within = raw.get("within")
        if within:
            if within not in known_ids:
                raise SourcedCompileError(definition.source, definition.where + ("within",),
                                          f"within names {within!r}, not a resource defined before this one")
            return lambda scope, run: [s for i in run.instances.get(within, []) for s in split(i.scope)]
        return lambda scope, run: split(scope)
    segment = raw.get("segment")
    if segment:
        return lambda scope, run: [scope] if scope.positions(segment) else []
    return lambda scope, run: [scope]


def compile_resource(definition: ResourceDefinition, known: Known, earlier_ids: list[str]) -> ResourcePlan:
    if not fhir_shape.is_resource_type(definition.type):
        raise SourcedCompileError(definition.source, definition.where + ("type",), f"{definition.type!r} is not a FHIR R4 resource type")
    for key, members in definition.accumulate.items():
        try:
            repeats, _ = fhir_shape.element(definition.type, key)
        except fhir_shape.UnknownElement as exc:
            raise SourcedCompileError(definition.source, definition.where + ("accumulate", key), str(exc.args[0])) from None
        if not repeats:
            raise SourcedCompileError(definition.source, definition.where + ("accumulate", key),
                                      f"{definition.type}.{key} is not a list: nothing to accumulate")
        for member in members:
            try:
                fhir_shape.element(definition.type, f"{key}.{member}")
            except fhir_shape.UnknownElement as exc:
                raise SourcedCompileError(definition.source, definition.where + ("accumulate", key),
                                          str(exc.args[0])) from None
    members, locations = [], {}
    for key, item in definition.fields.items():
        if item.value is None:
            continue
        try:
            members.extend(compile_members({key: item.value}, definition.type, "", item.where[:-1], known))
        except CompileError as exc:
            raise SourcedCompileError(item.source, exc.where, exc.message) from None
        paths = _paths_in(item.value)
        if paths:
            locations[key.split(".")[0]] = paths[0]
    try:
        require = [compile_path(r.value) for r in definition.require]
        scopes = _scopes(definition, earlier_ids)
        condition = compile_condition(definition.raw["when"], definition.where + ("when",)) if "when" in definition.raw else None
    except (CompileError, PathSyntaxError) as exc:
        raise SourcedCompileError(definition.source, getattr(exc, "where", definition.where), str(exc)) from None
    return ResourcePlan(
        id=definition.id, type=definition.type, scopes=scopes, condition=condition, require=require,
        members=members, identity=[_identity(i, known) for i in definition.identity],
        replace=definition.raw.get("replace", False), accumulate=definition.accumulate, locations=locations,
    )


def _paths_in(spec: Any) -> list[str]:
    """HL7 locations a spec reads (``PID-7``), for naming the field behind an invalid element."""
    if isinstance(spec, str):
        try:
            return [compile_path(spec).location]
        except PathSyntaxError:
            return []
    if isinstance(spec, list):
        return [p for s in spec for p in _paths_in(s)]
    if isinstance(spec, dict):
        found = _paths_in(spec["path"]) if "path" in spec else []
        for member in (spec.get("object") or {}).values():
            found.extend(_paths_in(member))
        return found
    return []


@dataclass
class MessagePlan:
    """A compiled message config: :meth:`map` builds its resources for one parsed message."""

    name: str
    handles: list[str]
    resources: list[ResourcePlan]
    dropped: dict[str, str]

    def map(self, run: Run) -> list[MappedResource]:
        top = Scope(run.message)
        for plan in self.resources:
            built = []
            for scope in plan.scopes(top, run):
                instance = plan.build(scope, run)
                if instance is not None:
                    built.append(instance)
            run.instances[plan.id] = built
        produced = []
        for plan in self.resources:
            for instance in run.instances[plan.id]:
                mapped = instance.mapped
                # Resolved member by member: a resource without its Patient is still a resource.
                members = {key: resolve(value, run.instances) for key, value in mapped.resource.items()}
                mapped.resource = {key: value for key, value in members.items() if value not in (None, [], {})}
                mapped.remove = {key: resolve(entries, run.instances) for key, entries in mapped.remove.items()}
                problems = fhir_shape.validation_problems(mapped.resource)
                if problems:
                    element, kind = problems[0]
                    raise MappingError(plan.locations.get(element) or plan.type,
                                       f"gives an invalid {plan.type}.{element or '(resource)'} ({kind})")
                mapped.identity = [pair for rule in plan.identity for pair in rule(mapped.resource, instance.scope, run)]
                produced.append(mapped)
        return produced


def compile_message(name: str, handles: list[str], definitions: list[ResourceDefinition],
                    dropped: dict[str, str], tables: set[str]) -> MessagePlan:
    """Compile a merged message config; raise :class:`SourcedCompileError` naming file and key."""
    known = Known(tables=tables, resource_ids={d.id for d in definitions})
    plans, earlier = [], []
    for definition in definitions:
        if definition.raw.get("enabled", True) is False:
            continue
        plans.append(compile_resource(definition, known, earlier))
        earlier.append(definition.id)
    all_dropped = dict(dropped)
    for d in definitions:
        all_dropped.update(d.dropped)
    return MessagePlan(name, handles, plans, all_dropped)
