"""Compiles a config's value specs (``{path: PID-5[*], type: XPN}``) into plain callables,
once per config version, so mapping a message never looks at the YAML again.

A compiled spec takes a :class:`~mappings.v2.path.Scope` and the per-message
:class:`Run` and returns an :class:`Out`: the values found, whether the sender sent the
explicit null ``""`` (for the whole value, or for members of an object), whether anything
came from the message (objects made only of literals are left out), and whether the value
is for a new resource only.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Callable

from foundation.errors import CarebridgeError
from mappings import fhir_shape
from mappings.datatypes import CONVERTERS
from mappings.datatypes.context import ConversionContext, component
from mappings.datatypes.times import InvalidDate
from mappings.datatypes.values import InvalidValue
from mappings.errors import MappingError
from mappings.references import PendingReference
from mappings.v2.message import Segment
from mappings.v2.path import PathSyntaxError, Scope, compile_path


class CompileError(CarebridgeError):
    """A spec that cannot work; ``where`` is the key path inside the config file."""

    def __init__(self, where: tuple, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{'.'.join(map(str, where))}: {message}")


@dataclass
class Out:
    values: list[Any] = field(default_factory=list)
    null: bool = False
    data: bool = False
    #: Members (dotted, inside the value) sent as ``""`` when no value was built: an object
    #: spec whose only news is that PV1-45 is null says ``["end"]``.
    cleared: list[str] = field(default_factory=list)
    #: The value came from an ``initial`` spec: an update keeps the stored value.
    initial: bool = False
    #: List entries the message removes (a ``remove`` spec: AIP-2 action code D), each
    #: reduced to the members that find the stored entry (``{actor: ...}``).
    removed: list[Any] = field(default_factory=list)


@dataclass
class Assembled:
    """An object built from compiled members."""

    built: dict[str, Any]
    #: Member keys (dotted for nested members) the message sent as ``""``.
    nulls: list[str]
    data: bool
    #: Top-level members whose value came from an ``initial`` spec.
    initial: list[str]
    #: Top-level list members -> the entries the message removes from the stored list.
    removed: dict[str, list[Any]] = field(default_factory=dict)


@dataclass
class Run:
    """What one message's mapping shares across specs: converter settings, the message, its
    type, and the resource instances built so far (by resource id)."""

    context: ConversionContext
    message: list[Segment]
    message_type: str
    instances: dict[str, list] = field(default_factory=dict)


Evaluate = Callable[[Scope, Run], Out]
Condition = Callable[[Scope, Run], bool]
EMPTY = Out()


@dataclass
class Known:
    """What compiling may check names against: tables and resource ids of the message."""

    tables: set[str]
    resource_ids: set[str]


def _path(text: str, where: tuple):
    try:
        return compile_path(text)
    except PathSyntaxError as exc:
        raise CompileError(where, str(exc)) from None


def compile_condition(spec: dict, where: tuple) -> Condition:
    """``{path, equals|in|not_in|valued}``, ``{message_type: [...]}``, ``{all: [...]}``, ``{any: [...]}``."""
    checks: list[Condition] = []
    if "all" in spec:
        parts = [compile_condition(c, where + ("all", i)) for i, c in enumerate(spec["all"])]
        checks.append(lambda scope, run: all(p(scope, run) for p in parts))
    if "any" in spec:
        parts = [compile_condition(c, where + ("any", i)) for i, c in enumerate(spec["any"])]
        checks.append(lambda scope, run: any(p(scope, run) for p in parts))
    if "message_type" in spec:
        types = set(spec["message_type"])
        checks.append(lambda scope, run: run.message_type in types)
    if "path" in spec:
        path = _path(spec["path"], where + ("path",))

        def texts(scope: Scope) -> list[str]:
            return [component(rep, 1) for rep in path.read(scope).values]

        if "equals" in spec:
            expected = spec["equals"]
            checks.append(lambda scope, run: expected in texts(scope))
        if "in" in spec:
            allowed = set(spec["in"])
            checks.append(lambda scope, run: any(t in allowed for t in texts(scope)))
        if "not_in" in spec:
            refused = set(spec["not_in"])
            checks.append(lambda scope, run: not any(t in refused for t in texts(scope)))
        if "valued" in spec:
            wanted = spec["valued"]
            checks.append(lambda scope, run: bool(texts(scope)) == wanted)
        if not any(k in spec for k in ("equals", "in", "not_in", "valued")):
            checks.append(lambda scope, run: bool(texts(scope)))
    if not checks:
        raise CompileError(where, "a condition needs path, message_type, all or any")
    return lambda scope, run: all(check(scope, run) for check in checks)


#: Segments that open a group in the message structures mapped here; the group of an
#: iterated segment (an OBX and its NTEs) ends at the next one of these or of its own kind.
GROUP_LEADERS = frozenset({"MSH", "PID", "PV1", "MRG", "ORC", "OBR", "TXA", "SCH", "RGS", "AIS", "AIG",
                           "AIL", "AIP", "FT1", "STF", "MFE"})


def segment_scopes(scope: Scope, name: str) -> list[Scope]:
    """One scope per ``name`` segment in ``scope``: that segment and what follows it, up to
    the next one, the next group leader, or the scope's end."""
    scopes = []
    for start in scope.positions(name):
        end = start + 1
        while end < scope.stop and scope.message[end].name != name and scope.message[end].name not in GROUP_LEADERS:
            end += 1
        scopes.append(Scope(scope.message, start, end, scope.item, scope.pinned))
    return scopes


def iterate(each: str, where: tuple) -> Callable[[Scope], list[Scope]]:
    """``each: OBX`` (every OBX in scope, with what follows it) or ``each: PV1-7[*]`` (every repetition)."""
    if len(each) == 3 and each.isalnum() and each.isupper():
        return lambda scope: segment_scopes(scope, each)
    path = _path(each, where)
    return lambda scope: [Scope(scope.message, scope.start, scope.end, rep, scope.pinned)
                          for rep in path.read(scope).values]


def _table(name: str, mode: str, where: tuple, known: Known) -> Callable[[str, Run], Any]:
    if name not in known.tables:
        raise CompileError(where, f"no code table named {name!r}")

    def look_up(code: str, run: Run) -> Any:
        entry = run.context.lookup(name, code)
        if not entry or not entry.get("code"):
            return None
        if mode == "code":
            return entry["code"]
        coding = {k: entry[k] for k in ("system", "code", "display") if entry.get(k)}
        return coding if mode == "coding" else {"coding": [coding]}
    return look_up


def _read(spec: dict, where: tuple, known: Known) -> Evaluate:
    """A ``path`` spec: read, filter segments by ``where``, convert, look up, join."""
    path = _path(spec["path"], where + ("path",))
    converter_name = spec.get("type", "string")
    converter = CONVERTERS[converter_name]
    table = _table(spec["table"], spec.get("as", "code"), where + ("table",), known) if "table" in spec else None
    keep = compile_condition(spec["where"], where + ("where",)) if "where" in spec else None
    joiner = spec.get("join")
    as_text = spec.get("text", False)
    adds_up = spec.get("sum", False)
    factor = Decimal(str(spec["factor"])) if "factor" in spec else None
    location = path.location

    def evaluate(scope: Scope, run: Run) -> Out:
        if keep is not None and path.segment:
            readings = []
            for index in scope.positions(path.segment) or []:
                single = Scope(scope.message, index, index + 1, scope.item, scope.pinned)
                if keep(single, run):
                    readings.append(path.read(single))
            reps = [rep for r in readings for rep in r.values]
            null = any(r.null for r in readings) and not reps
        else:
            reading = path.read(scope)
            reps, null = reading.values, reading.null
        values = []
        try:
            for rep in reps:
                value = converter(rep, run.context)
                if value is not None and table is not None:
                    value = table(component(rep, 1), run)
                if value is not None:
                    values.append(value)
        except (InvalidDate, InvalidValue) as exc:
            raise MappingError(location, str(exc)) from None
        if factor is not None:
            values = [_plain_number(Decimal(str(v)) * factor) for v in values if isinstance(v, _NUMBERS)]
        if adds_up and values:
            values = [_plain_number(sum(Decimal(str(v)) for v in values if isinstance(v, _NUMBERS)))]
        if joiner is not None and values:
            text = joiner.join(str(v) for v in values)
            values = [{"contentType": "text/plain; charset=utf-8", "data": _base64(text)} if as_text else text]
        return Out(values, null, bool(values))
    return evaluate


#: What the NM converter and literals give as numbers.
_NUMBERS = (int, float, Decimal)


def _plain_number(value: Decimal) -> int | Decimal:
    """A JSON number: an integer when the value is whole (FHIR positiveInt, unsignedInt), else the decimal."""
    return int(value) if value == value.to_integral_value() else value


#: A ``{PATH}`` placeholder in a ``format`` spec.
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def _format(template: str, where: tuple) -> Evaluate:
    """A ``format`` spec: the template with each ``{PATH}`` replaced by the text (component 1)
    the path finds, or nothing; no value when every path finds nothing."""
    paths = {text: _path(text, where) for text in _PLACEHOLDER.findall(template)}

    def evaluate(scope: Scope, run: Run) -> Out:
        found = {text: path.read(scope).values for text, path in paths.items()}
        if not any(found.values()):
            return EMPTY
        text = _PLACEHOLDER.sub(lambda m: component(found[m.group(1)][0], 1) if found[m.group(1)] else "", template)
        return Out([text.strip()], False, True)
    return evaluate


def _base64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _object(members: dict, resource_type: str, element: str, where: tuple, known: Known) -> Evaluate:
    """An ``object`` spec: one FHIR object whose members are specs; left out when nothing
    in it came from the message."""
    compiled = compile_members(members, resource_type, element, where, known)

    def evaluate(scope: Scope, run: Run) -> Out:
        made = assemble(compiled, scope, run)
        if made.data and made.built:
            return Out([made.built], False, True)
        # Nothing to send but explicit nulls: carried up, so those members are cleared on update.
        return Out(cleared=made.nulls) if made.nulls else EMPTY
    return evaluate


def compile_members(members: dict, resource_type: str, element: str, where: tuple, known: Known) -> list:
    """(dotted key, repeats, evaluate) for each member of an object or resource."""
    compiled = []
    for key, spec in members.items():
        if spec is None:  # an override removing a shipped field
            continue
        dotted = f"{element}.{key}" if element else key
        try:
            repeats, _ = fhir_shape.element(resource_type, dotted)
        except fhir_shape.UnknownElement as exc:
            raise CompileError(where + (key,), str(exc.args[0])) from None
        compiled.append((key, repeats, compile_spec(spec, resource_type, dotted, where + (key,), known)))
    return compiled


def assemble(compiled: list, scope: Scope, run: Run) -> Assembled:
    """Build an object from compiled members."""
    built: dict[str, Any] = {}
    nulls: list[str] = []
    initial: list[str] = []
    removed: dict[str, list[Any]] = {}
    data = False
    for key, repeats, evaluate in compiled:
        out = evaluate(scope, run)
        data = data or out.data
        if out.removed:
            removed.setdefault(key, []).extend(out.removed)
        if not out.values:
            if out.null:
                nulls.append(key)
            nulls.extend(f"{key}.{member}" for member in out.cleared)
            continue
        values = [v for value in out.values for v in (value if isinstance(value, list) else [value])]
        target, *rest = key.split(".")
        holder = built
        for part in [target] + rest[:-1] if rest else []:
            holder = holder.setdefault(part, {})
        leaf = rest[-1] if rest else target
        if repeats:
            holder.setdefault(leaf, []).extend(values)
        elif leaf not in holder:
            holder[leaf] = values[0]
            if out.initial and not rest:
                initial.append(leaf)
    return Assembled(built, nulls, data, initial, removed)


def compile_spec(spec: Any, resource_type: str, element: str, where: tuple, known: Known) -> Evaluate:
    """Compile one spec (a path string, a list of specs, or a spec object)."""
    if isinstance(spec, str):
        return _read({"path": spec}, where, known)
    if isinstance(spec, list):
        parts = [compile_spec(s, resource_type, element, where + (i,), known) for i, s in enumerate(spec)]

        def evaluate_all(scope: Scope, run: Run) -> Out:
            outs = [p(scope, run) for p in parts]
            values = [v for o in outs for v in o.values]
            first = next((o for o in outs if o.values), None)
            cleared = [] if values else [c for o in outs for c in o.cleared]
            return Out(values, any(o.null for o in outs) and not values, any(o.data for o in outs),
                       cleared, first.initial if first else False, [r for o in outs for r in o.removed])
        return evaluate_all
    if not isinstance(spec, dict):
        raise CompileError(where, "a spec is a path, a list of specs or a mapping")

    if "each" in spec or "each_ref" in spec:
        inner_spec = {k: v for k, v in spec.items() if k not in ("each", "each_ref", "when", "remove")}
        inner = compile_spec(inner_spec, resource_type, element, where, known)
        if "each_ref" in spec:
            target = spec["each_ref"]
            if target not in known.resource_ids:
                raise CompileError(where + ("each_ref",), f"no resource with id {target!r} in this message config")

            def scopes(scope: Scope, run: Run) -> list[Scope]:
                found = [i for i in run.instances.get(target, []) if scope.contains(i.scope) or i.scope.contains(scope)]
                return [Scope(i.scope.message, i.scope.start, i.scope.end, i.scope.item, scope.pinned + ((target, i),))
                        for i in found]
        else:
            split = iterate(spec["each"], where + ("each",))

            def scopes(scope: Scope, run: Run) -> list[Scope]:
                return split(scope)
        condition = compile_condition(spec["when"], where + ("when",)) if "when" in spec else None
        removal = spec.get("remove")
        removes = compile_condition(removal["when"], where + ("remove", "when")) if removal else None
        by = removal["by"] if removal else []

        def evaluate_each(scope: Scope, run: Run) -> Out:
            values, removed, data = [], [], False
            for sub in scopes(scope, run):
                if condition is not None and not condition(sub, run):
                    continue
                out = inner(sub, run)
                if removes is not None and removes(sub, run):
                    # An entry the sender deletes (AIP-2 D): not sent, but carried by the members
                    # that find it in the stored list, so the update removes it.
                    removed.extend({m: v[m] for m in by if m in v} for v in out.values if isinstance(v, dict))
                    continue
                values.extend(out.values)
                data = data or out.data
            return Out(values, False, data or bool(removed), removed=removed)
        return evaluate_each

    condition = compile_condition(spec["when"], where + ("when",)) if "when" in spec else None
    if "path" in spec:
        base = _read(spec, where, known)
    elif "format" in spec:
        base = _format(spec["format"], where + ("format",))
    elif "object" in spec:
        base = _object(spec["object"], resource_type, element, where + ("object",), known)
    elif "ref" in spec:
        target, every = spec["ref"], spec.get("all", False)
        # With a ref, defaults are members of the Reference itself ({type: Practitioner}).
        members = tuple(sorted((spec.get("defaults") or {}).items()))
        if target not in known.resource_ids:
            raise CompileError(where + ("ref",), f"no resource with id {target!r} in this message config")

        def base(scope: Scope, run: Run) -> Out:
            # A reference counts as data: it points at a resource this message produced.
            return Out([PendingReference(target, scope, every, members)], False, True)
    elif "value" in spec:
        literal = spec["value"]

        def base(scope: Scope, run: Run) -> Out:
            return Out([literal], False, False)
    elif "default" in spec:
        base = lambda scope, run: EMPTY  # noqa: E731 - a default alone: only the default below
    else:
        raise CompileError(where, "a spec needs path, value, ref, object, format, each or each_ref")

    default = spec.get("default")
    has_default = "default" in spec
    defaults = spec.get("defaults")
    initial = spec.get("initial", False)

    def evaluate(scope: Scope, run: Run) -> Out:
        if condition is not None and not condition(scope, run):
            return EMPTY
        out = base(scope, run)
        if not out.values and has_default and not out.null:
            return Out([default], False, out.data, initial=initial)
        if defaults:
            out = replace(out, values=[{**defaults, **v} if isinstance(v, dict) else v for v in out.values])
        if initial and out.values:
            out = replace(out, initial=True)
        return out
    return evaluate
