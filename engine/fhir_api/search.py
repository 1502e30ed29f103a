"""Answers a :class:`SearchRequest` with SQL over the search index tables, on SQLite and PostgreSQL.

Every criterion is an ``IN`` over one index table's lookup index; no JSON is read until
the page is chosen. Pages are cut by keyset (the sort values of the last row) under a
snapshot instant, so the pages a client walks neither skip nor repeat rows while other
clients insert. A resource updated while a client pages is not skipped: it stays in the
walk at the place its new sort values give it (with the default order by last update, on
a later page, so a client that saw it already sees it again).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, exists, func, literal, not_, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, operators
from sqlalchemy.sql.expression import UnaryExpression

from engine.db.models import (
    ResourceRecord,
    ResourceVersion,
    SearchDate,
    SearchReference,
    SearchString,
    SearchToken,
    UTCDateTime,
    utcnow,
)
from engine.fhir_api.errors import bad_request
from engine.fhir_api.search_params import Criterion, Include, SearchRequest, SortKey, split_date_prefix
from engine.repository.search_index import date_range, normalise_string, split_reference
from foundation import decimal_json

R = ResourceRecord
#: Sorts put resources without a value first (ascending), as if they had this one.
EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)
#: Included resources per page at most (an include is a join, not an export).
MAX_INCLUDED = 1000
#: The last character, so ``value < prefix + LAST`` bounds a prefix range on a binary collation.
LAST_CHARACTER = "\U0010ffff"


@dataclass
class SearchPage:
    """One page of a search: matches in order, what they include, and cursors either side."""

    matches: list[dict[str, Any]]
    included: list[dict[str, Any]]
    total: int | None
    next_cursor: str | None
    previous_cursor: str | None


# Criteria --------------------------------------------------------------------------------

def _owners(table, resource_type: str, name: str, *conditions) -> Any:
    return select(table.resource_id).where(table.resource_type == resource_type, table.param == name, *conditions)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _string_value(value: str, modifier: str | None, dialect: str) -> ColumnElement:
    folded = normalise_string(value)
    if modifier == "exact":
        return and_(SearchString.value == folded, SearchString.exact == value)
    if modifier == "contains":
        return SearchString.value.like(f"%{_escape_like(folded)}%", escape="\\")
    if dialect == "postgresql":
        return SearchString.value.like(f"{_escape_like(folded)}%", escape="\\")
    return and_(SearchString.value >= folded, SearchString.value < folded + LAST_CHARACTER)


def _token_value(value: str) -> ColumnElement:
    system, bar, code = value.rpartition("|")
    if not bar:
        return SearchToken.code == value
    if not system:
        return and_(SearchToken.system.is_(None), SearchToken.code == code)
    if not code:
        return SearchToken.system == system
    return and_(SearchToken.system == system, SearchToken.code == code)


def _reference_value(value: str, type_modifier: str | None) -> ColumnElement:
    target_type, target_id = split_reference(value)
    target_type = type_modifier or target_type
    condition = SearchReference.target_id == target_id
    return and_(condition, SearchReference.target_type == target_type) if target_type else condition


def _date_value(low, high, value: str) -> ColumnElement:
    """R4 date prefixes over the implied range of the value and the stored range (null: open)."""
    prefix, text = split_date_prefix(value)
    q_low, q_high = date_range(text)
    if prefix == "ap":
        # Approximately: within a tenth of the distance from now, at least a day.
        slack = max(abs(utcnow() - q_low) / 10, timedelta(days=1))
        q_low, q_high = q_low - slack, q_high + slack
        return and_(or_(low.is_(None), low <= q_high), or_(high.is_(None), high >= q_low))
    starts_within = and_(low.is_not(None), low >= q_low)
    ends_within = and_(high.is_not(None), high <= q_high)
    equal = and_(starts_within, ends_within)
    starts_before = or_(low.is_(None), low < q_low)
    ends_after = or_(high.is_(None), high > q_high)
    return {
        "eq": equal,
        "ne": or_(starts_before, ends_after),
        "gt": ends_after,
        "lt": starts_before,
        "ge": or_(ends_after, equal),
        "le": or_(starts_before, equal),
        "sa": and_(low.is_not(None), low > q_high),
        "eb": and_(high.is_not(None), high < q_low),
    }[prefix]


def criterion_condition(resource_type: str, criterion: Criterion, dialect: str) -> ColumnElement:
    """The WHERE clause on ``resources`` that one criterion makes."""
    name, modifier, values = criterion.name, criterion.modifier, criterion.values
    if criterion.type == "id":
        return R.id.in_(values)
    if criterion.type == "lastUpdated":
        return or_(*[_date_value(R.last_updated, R.last_updated, v) for v in values])
    table = {"string": SearchString, "token": SearchToken, "date": SearchDate, "reference": SearchReference}[
        criterion.type]
    if modifier == "missing":
        present = R.id.in_(_owners(table, resource_type, name))
        return not_(present) if values[0] == "true" else present
    if criterion.type == "string":
        matches = or_(*[_string_value(v, modifier, dialect) for v in values])
    elif criterion.type == "token":
        matches = or_(*[_token_value(v) for v in values])
    elif criterion.type == "date":
        matches = or_(*[_date_value(SearchDate.low, SearchDate.high, v) for v in values])
    else:
        matches = or_(*[_reference_value(v, modifier) for v in values])
    owners = R.id.in_(_owners(table, resource_type, name, matches))
    return not_(owners) if modifier == "not" else owners


def _filters(session: Session, request: SearchRequest) -> list[ColumnElement]:
    dialect = session.get_bind().dialect.name
    return [R.resource_type == request.resource_type, R.deleted.is_(False),
            *[criterion_condition(request.resource_type, c, dialect) for c in request.criteria]]


def matching_ids(session: Session, request: SearchRequest, limit: int | None = None) -> list[str]:
    """Ids of current resources the criteria select (conditional create, update and delete use it)."""
    query = select(R.id).where(*_filters(session, request)).order_by(R.id)
    return list(session.scalars(query.limit(limit) if limit else query))


# Sorting and paging ------------------------------------------------------------------------

def _sort_expression(resource_type: str, key: SortKey):
    if key.type == "id":
        return R.id, "str"
    if key.type == "lastUpdated":
        return R.last_updated, "date"
    owner = {"string": SearchString, "token": SearchToken, "date": SearchDate}[key.type]
    column = {"string": SearchString.value, "token": SearchToken.code,
              "date": SearchDate.high if key.descending else SearchDate.low}[key.type]
    pick = func.max if key.descending else func.min
    value = (select(pick(column)).where(owner.resource_type == resource_type, owner.resource_id == R.id,
                                        owner.param == key.name).scalar_subquery())
    if key.type == "date":
        return func.coalesce(value, literal(EARLIEST, UTCDateTime())), "date"
    return func.coalesce(value, ""), "str"


def _unindexed(column) -> Any:
    """``+column``: SQLite then drives the query from the criteria's index lookups instead of
    walking every resource of the type in (last updated) order and testing each one."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


def _selective(session: Session, request: SearchRequest) -> bool:
    """Whether SQLite should start from the criteria: some criterion names the rows it wants."""
    positive = any(c.modifier not in ("not", "missing") or c.values == ("false",) for c in request.criteria)
    return positive and session.get_bind().dialect.name == "sqlite"


def _keys(request: SearchRequest, last_updated: Any = R.last_updated) -> list[tuple[Any, bool, str]]:
    keys = [(*_sort_expression(request.resource_type, k), k.descending) for k in request.sort]
    keys = [(expr, descending, kind) for expr, kind, descending in keys]
    if not request.sort:
        keys.append((last_updated, False, "date"))
    if not any(k.type == "id" for k in request.sort):
        keys.append((R.id, False, "str"))
    return keys


def _encode_cursor(values: list[Any], forward: bool, as_of: datetime) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = json.dumps({"v": plain, "f": forward, "t": as_of.isoformat()}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, keys: list[tuple[Any, bool, str]]) -> tuple[list[Any], bool, datetime]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = [datetime.fromisoformat(v) if kind == "date" else str(v)
                  for v, (_, _, kind) in zip(data["v"], keys, strict=True)]
        return values, bool(data["f"]), datetime.fromisoformat(data["t"])
    except (ValueError, KeyError, TypeError):
        raise bad_request("invalid-page-cursor", "the _cursor of this page link is not valid") from None


def _beyond(keys: list[tuple[Any, bool, str]], values: list[Any], forward: bool) -> ColumnElement:
    """Rows after (or, going back, before) the row whose sort values are ``values``."""
    clauses = []
    for i, (expr, descending, _) in enumerate(keys):
        ahead = expr > values[i] if descending != forward else expr < values[i]
        clauses.append(and_(*[keys[j][0] == values[j] for j in range(i)], ahead))
    return or_(*clauses)


def _existed_at(as_of: datetime) -> ColumnElement:
    """The resource had a version at the snapshot: one updated since is still on the pages (in its
    new version, placed by its new sort values), while one created since is not."""
    version = ResourceVersion
    return exists().where(version.resource_type == R.resource_type, version.id == R.id,
                          version.last_updated <= as_of)


def _order(keys: list[tuple[Any, bool, str]], forward: bool) -> list[Any]:
    return [expr.desc() if descending == forward else expr.asc() for expr, descending, _ in keys]


def search(session: Session, request: SearchRequest) -> SearchPage:
    """One page of matches for ``request``, with its includes and the cursors of its neighbours."""
    filters = _filters(session, request)
    last_updated = _unindexed(R.last_updated) if _selective(session, request) else R.last_updated
    keys = _keys(request, last_updated)
    forward, as_of, after = True, utcnow(), None
    if request.cursor:
        after, forward, as_of = _decode_cursor(request.cursor, keys)
        filters.append(or_(last_updated <= as_of, _existed_at(as_of)))
    else:
        # The first page is the snapshot itself: everything stored has a version at or before it.
        filters.append(last_updated <= as_of)
    total = None
    if request.total != "none" or request.summary == "count":
        total = session.scalar(select(func.count()).select_from(R).where(*filters))
    if request.summary == "count" or request.count == 0:
        return SearchPage([], [], total, None, None)
    query = select(R.id, R.content, *[expr for expr, _, _ in keys]).where(*filters)
    if after is not None:
        query = query.where(_beyond(keys, after, forward))
    rows = list(session.execute(query.order_by(*_order(keys, forward)).limit(request.count + 1)))
    more = len(rows) > request.count
    rows = rows[:request.count]
    if not forward:
        rows.reverse()
    first, last = (list(rows[0][2:]), list(rows[-1][2:])) if rows else (None, None)
    has_next = more if forward else after is not None
    has_previous = (after is not None) if forward else more
    matches = [decimal_json.loads(row[1]) for row in rows]
    return SearchPage(
        matches, included(session, request, [row[0] for row in rows]), total,
        _encode_cursor(last, True, as_of) if has_next and last else None,
        _encode_cursor(first, False, as_of) if has_previous and first else None,
    )


# Includes ----------------------------------------------------------------------------------

def _load(session: Session, pairs: set[tuple[str, str]]) -> list[dict[str, Any]]:
    by_type: dict[str, set[str]] = {}
    for resource_type, resource_id in pairs:
        by_type.setdefault(resource_type, set()).add(resource_id)
    found = []
    for resource_type, ids in sorted(by_type.items()):
        query = select(R.content).where(R.resource_type == resource_type, R.id.in_(sorted(ids)),
                                        R.deleted.is_(False)).order_by(R.id)
        found += [decimal_json.loads(content) for content in session.scalars(query)]
    return found


def _include_pairs(session: Session, include: Include, ids: list[str]) -> set[tuple[str, str]]:
    ref = SearchReference
    query = select(ref.target_type, ref.target_id).where(
        ref.resource_type == include.source_type, ref.param == include.param, ref.resource_id.in_(ids),
        ref.target_type.is_not(None), ref.target_type == include.target_type if include.target_type else true())
    return {(row[0], row[1]) for row in session.execute(query.limit(MAX_INCLUDED))}


def _revinclude_pairs(session: Session, include: Include, resource_type: str, ids: list[str]) -> set[tuple[str, str]]:
    ref = SearchReference
    if include.target_type and include.target_type != resource_type:
        return set()
    query = select(ref.resource_type, ref.resource_id).where(
        ref.resource_type == include.source_type, ref.param == include.param,
        ref.target_type == resource_type, ref.target_id.in_(ids))
    return {(row[0], row[1]) for row in session.execute(query.limit(MAX_INCLUDED))}


def included(session: Session, request: SearchRequest, ids: list[str]) -> list[dict[str, Any]]:
    """The resources ``_include`` and ``_revinclude`` add to a page, without the page's own."""
    if not ids or not (request.include or request.revinclude):
        return []
    pairs: set[tuple[str, str]] = set()
    for include in request.include:
        pairs |= _include_pairs(session, include, ids)
    for include in request.revinclude:
        pairs |= _revinclude_pairs(session, include, request.resource_type, ids)
    pairs -= {(request.resource_type, i) for i in ids}
    return _load(session, pairs) if pairs else []

