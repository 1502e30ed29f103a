"""Search parameters are queries on indexed columns: no statement a search runs scans a table.

SQLite plans by rule, so its plan must also start from the criteria's index rather than walk
every resource of the type. PostgreSQL plans by cost and, on a nearly empty test database,
rightly walks the type; there the test checks that every table is reached through an index
(the benchmark shows the selective plan at scale).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, text

from api.fhir_data import SYSTEM, create, patient


def _statements_of(runtime, action) -> list[tuple[str, object]]:
    captured = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(runtime.database.engine, "before_cursor_execute", capture)
    try:
        action()
    finally:
        event.remove(runtime.database.engine, "before_cursor_execute", capture)
    return captured


def _plan(runtime, statement: str, parameters) -> str:
    with runtime.database.engine.connect() as connection:
        if runtime.database.is_sqlite:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        # With sequential scans priced out, a plan still holding one has no index to use.
        connection.execute(text("SET enable_seqscan = off"))
        return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters))


#: An index used only for the type (and last updated) walks every resource of the type.
_TYPE_WALK = re.compile(r"INDEX \S+ \(resource_type=\?( AND last_updated<\?)?\)$")


def _full_scans(plan: str) -> list[str]:
    """Plan lines that read a whole table, or (SQLite) every resource of the type."""
    return [line for line in plan.splitlines()
            if "Seq Scan" in line or line.strip().startswith("SCAN ") or _TYPE_WALK.search(line)]


@pytest.mark.parametrize("query", [f"identifier={SYSTEM}|100001", "name=test", "family:exact=Testperson",
                                   "birthdate=ge1980-01-01", "general-practitioner=Practitioner/x"])
def test_search_statements_use_indexes_only(client, runtime, query):
    create(client, patient(birthDate="1980-02-14"))
    statements = _statements_of(runtime, lambda: client.get(f"/fhir/Patient?{query}"))
    assert statements
    for statement, parameters in statements:
        assert _full_scans(_plan(runtime, statement, parameters)) == [], statement
