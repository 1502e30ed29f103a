"""Reads a FHIR search query (``name:modifier=value,value&_sort=...``) into a :class:`SearchRequest`.

Checks names, modifiers and values against the indexed parameters of the type, so the
query builder only meets what it can answer. Unknown parameters are collected (reported
in the Bundle's OperationOutcome) or, under ``Prefer: handling=strict``, refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from engine.fhir_api.errors import bad_request
from engine.fhir_api.limits import (
    MAX_SEARCH_IDS_SETTING,
    MAX_SEARCH_PARAMETERS_SETTING,
    MAX_SEARCH_TOTAL_VALUES_SETTING,
    MAX_SEARCH_VALUES_SETTING,
    FhirLimits,
    over_limit,
)
from engine.repository.search_index import date_range, parameter_named

#: Page size when the client names none.
DEFAULT_COUNT = 20
#: The largest page a client may ask for.
MAX_COUNT = 1000
#: Date prefixes (R4 search: ordered comparisons over implied ranges).
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
#: Comparators read as prefixes, longest first. fhirclient's documented search operators
#: (``{"birthdate": {"$gte": "1985"}}``) still send ``>=1985``, FHIR DSTU1's spelling of ``ge1985``;
#: without these its prefix searches would be 400s.
COMPARATOR_PREFIXES = {">=": "ge", "<=": "le", ">": "gt", "<": "lt"}
#: Modifiers each parameter type accepts (reference also takes a resource type).
MODIFIERS = {
    "string": {"exact", "contains", "missing"},
    "token": {"not", "missing"},
    "date": {"missing"},
    "reference": {"missing"},
    "id": set(),
    "lastUpdated": set(),
}
#: Result parameters: they shape the answer rather than select resources.
RESULT_PARAMETERS = {"_count", "_sort", "_total", "_summary", "_elements", "_include", "_revinclude", "_cursor"}
#: Parameters every client may send that change nothing here.
IGNORED_QUIETLY = {"_format", "_pretty"}
SUMMARY_MODES = {"true", "false", "text", "data", "count"}
TOTAL_MODES = {"none", "estimate", "accurate"}


@dataclass(frozen=True)
class Criterion:
    """One occurrence of a search parameter: its values are ORed; criteria are ANDed."""

    name: str
    type: str
    modifier: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class SortKey:
    name: str
    type: str
    descending: bool


@dataclass(frozen=True)
class Include:
    """``_include=Appointment:patient`` or ``_revinclude=Observation:subject:Patient``."""

    source_type: str
    param: str
    target_type: str | None


@dataclass
class SearchRequest:
    resource_type: str
    criteria: list[Criterion] = field(default_factory=list)
    sort: list[SortKey] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    total: str = "accurate"
    summary: str | None = None
    elements: list[str] | None = None
    include: list[Include] = field(default_factory=list)
    revinclude: list[Include] = field(default_factory=list)
    cursor: str | None = None
    #: Parameters not understood, by name (never values), ignored unless strict.
    ignored: list[str] = field(default_factory=list)


def query_pairs(query: str) -> list[tuple[str, str]]:
    """``a=1&b=2`` as pairs, keeping repeats and blanks."""
    return parse_qsl(query.lstrip("?"), keep_blank_values=True)


def split_values(value: str) -> tuple[str, ...]:
    r"""A comma means OR; ``\,`` is a comma inside a value."""
    if "\\" not in value:
        return tuple(value.split(","))
    values, current, escaped = [], "", False
    for char in value:
        if escaped:
            current += char if char in ",$|\\" else "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            values.append(current)
            current = ""
        else:
            current += char
    values.append(current + ("\\" if escaped else ""))
    return tuple(values)


def parameter_type(resource_type: str, name: str) -> str | None:
    if name == "_id":
        return "id"
    if name == "_lastUpdated":
        return "lastUpdated"
    found = parameter_named(resource_type, name)
    return found.type if found else None


def split_date_prefix(value: str) -> tuple[str, str]:
    """``("ge", "1985")`` of ``ge1985`` (or ``>=1985``); ``eq`` when there is no prefix."""
    if len(value) > 2 and value[:2] in DATE_PREFIXES and value[2].isdigit():
        return value[:2], value[2:]
    for comparator, prefix in COMPARATOR_PREFIXES.items():
        if value.startswith(comparator) and value[len(comparator):][:1].isdigit():
            return prefix, value[len(comparator):]
    return "eq", value


def _check_values(name: str, type_: str, count: int, limits: FhirLimits) -> None:
    """Refuse ``count`` values ORed in one parameter: ``_id`` is one IN list, others a clause each."""
    limit, setting = ((limits.max_search_ids, MAX_SEARCH_IDS_SETTING) if type_ == "id"
                      else (limits.max_search_values, MAX_SEARCH_VALUES_SETTING))
    if count > limit:
        raise over_limit(400, "too-many-search-values", f"the search parameter {name!r} has {count} values", limit,
                         setting, issue_type="too-costly")


def _criterion(resource_type: str, key: str, value: str, supported_types: frozenset[str],
               limits: FhirLimits) -> Criterion | None:
    name, _, modifier = key.partition(":")
    type_ = parameter_type(resource_type, name)
    if type_ is None:
        return None
    modifier = modifier or None
    if modifier and modifier not in MODIFIERS[type_] and not (type_ == "reference" and modifier in supported_types):
        raise bad_request("unsupported-modifier", f"the modifier :{modifier} is not supported on {name!r}")
    # At least this many values (an escaped comma may follow an escaped backslash): refused unsplit.
    _check_values(name, type_, value.count(",") - value.count("\\,") + 1, limits)
    values = split_values(value)
    _check_values(name, type_, len(values), limits)
    if modifier == "missing":
        if value not in ("true", "false"):
            raise bad_request("invalid-search-value", f":missing on {name!r} takes true or false")
    elif type_ in ("date", "lastUpdated"):
        for one in values:
            if date_range(split_date_prefix(one)[1]) is None:
                raise bad_request("invalid-search-value", f"a value of {name!r} is not a FHIR date")
    return Criterion(name, type_, modifier, values)


def _count(value: str) -> int:
    if not (value.isascii() and value.isdigit()):  # isdigit alone takes "²", which int() refuses
        raise bad_request("invalid-search-value", "_count takes a non-negative integer")
    return min(int(value), MAX_COUNT)


def _include(value: str, reverse: bool, resource_type: str, supported_types: frozenset[str]) -> Include | None:
    parts = value.split(":")
    if len(parts) not in (2, 3) or parts[0] not in supported_types:
        return None
    if not reverse and parts[0] != resource_type:
        return None
    found = parameter_named(parts[0], parts[1])
    if found is None or found.type != "reference":
        return None
    return Include(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def _sort(value: str, resource_type: str) -> tuple[list[SortKey], list[str]]:
    keys, unknown = [], []
    for item in filter(None, value.split(",")):
        name = item.lstrip("-")
        type_ = parameter_type(resource_type, name)
        if type_ in (None, "reference"):
            unknown.append(f"_sort={name}")
            continue
        keys.append(SortKey(name, type_, item.startswith("-")))
    return keys, unknown


def parse_search(resource_type: str, pairs: list[tuple[str, str]], supported_types: frozenset[str],
                 *, strict: bool = False, limits: FhirLimits | None = None) -> SearchRequest:
    """The search a query asks for; raises a 400 :class:`FhirError` for what cannot be answered,
    or for a query larger than ``limits`` allow (the defaults of :class:`FhirLimits` when not given)."""
    limits = limits or FhirLimits()
    if len(pairs) > limits.max_search_parameters:
        raise over_limit(400, "too-many-search-parameters", f"the search has {len(pairs)} parameters",
                         limits.max_search_parameters, MAX_SEARCH_PARAMETERS_SETTING, issue_type="too-costly")
    request = SearchRequest(resource_type)
    for key, value in pairs:
        if key in IGNORED_QUIETLY:
            continue
        if key in RESULT_PARAMETERS:
            _result_parameter(request, key, value, supported_types)
            continue
        criterion = _criterion(resource_type, key, value, supported_types, limits)
        if criterion is None:
            request.ignored.append(key)
        else:
            request.criteria.append(criterion)
    total = sum(len(c.values) for c in request.criteria if c.type != "id")
    if total > limits.max_search_total_values:
        raise over_limit(400, "too-many-search-values", f"the search has {total} values in all",
                         limits.max_search_total_values, MAX_SEARCH_TOTAL_VALUES_SETTING, issue_type="too-costly")
    if strict and request.ignored:
        raise bad_request("unknown-search-parameter",
                          f"{resource_type} has no search parameter {', '.join(sorted(set(request.ignored)))}")
    return request


def _result_parameter(request: SearchRequest, key: str, value: str, supported_types: frozenset[str]) -> None:
    if key == "_count":
        request.count = _count(value)
    elif key == "_sort":
        request.sort, unknown = _sort(value, request.resource_type)
        request.ignored += unknown
    elif key == "_total":
        if value not in TOTAL_MODES:
            raise bad_request("invalid-search-value", "_total takes none, estimate or accurate")
        request.total = value
    elif key == "_summary":
        if value not in SUMMARY_MODES:
            raise bad_request("invalid-search-value", "_summary takes true, false, text, data or count")
        request.summary = value
    elif key == "_elements":
        request.elements = [e.strip() for e in value.split(",") if e.strip()]
    elif key in ("_include", "_revinclude"):
        found = _include(value, key == "_revinclude", request.resource_type, supported_types)
        if found is None:
            request.ignored.append(f"{key}={value.split(':')[0]}:{value.split(':')[1] if ':' in value else ''}")
        else:
            (request.revinclude if key == "_revinclude" else request.include).append(found)
    elif key == "_cursor":
        request.cursor = value
