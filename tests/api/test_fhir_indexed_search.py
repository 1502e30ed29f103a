"""Search parameters are queries on indexed columns: no statement a search runs scans a table.

SQLite plans by rule, so its plan must also start from the criteria's index rather than walk
every resource of the type. PostgreSQL plans by cost and, on a nearly empty test database,
rightly walks the type; there the test checks that every table is reached through an index
(the benchmark shows the selective plan at scale).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, insert, text

from api.fhir_data import SYSTEM, create, patient
from engine.db.models import ResourceRecord, SearchString, utcnow

#: Index rows of other patients in the trigram test (a near-empty table is rightly scanned).
TRIGRAM_ROWS = 20_000


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


# Not :missing=true: "no row for the parameter" can only be answered by walking the type.
@pytest.mark.parametrize("query", [f"identifier={SYSTEM}|100001", "name=test", "family:exact=Testperson",
                                   "birthdate=ge1980-01-01", "general-practitioner=Practitioner/x",
                                   "family:contains=stper", "gender:missing=false",
                                   "family=test&_sort=family", "name=test&_sort=-birthdate"])
def test_search_statements_use_indexes_only(client, runtime, query):
    create(client, patient(birthDate="1980-02-14"))
    statements = _statements_of(runtime, lambda: client.get(f"/fhir/Patient?{query}"))
    assert statements
    for statement, parameters in statements:
        assert _full_scans(_plan(runtime, statement, parameters)) == [], statement


# PostgreSQL only: SQLite has no index for LIKE '%x%', so there :contains reads the parameter's rows.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_contains_on_postgresql_reads_the_trigram_index(client, runtime):
    with runtime.database.engine.connect() as connection:
        if not connection.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).scalar():
            pytest.skip("this PostgreSQL ships no pg_trgm: the migration leaves :contains as a scan")
    create(client, patient(family="Greenwood"))
    # Enough patients that the planner prices walking them, or their family names, above the trigram lookup.
    with runtime.database.engine.begin() as connection:
        connection.execute(insert(ResourceRecord), [
            {"resource_type": "Patient", "id": f"p{n}", "version_id": 1, "last_updated": utcnow(), "deleted": False,
             "content": "{}"} for n in range(TRIGRAM_ROWS)])
        connection.execute(insert(SearchString), [
            {"resource_type": "Patient", "resource_id": f"p{n}", "param": "family", "value": f"family{n:05d}",
             "exact": f"Family{n:05d}"} for n in range(TRIGRAM_ROWS)])
        connection.execute(text("ANALYZE resources"))
        connection.execute(text("ANALYZE search_strings"))
    statements = _statements_of(runtime, lambda: client.get("/fhir/Patient?family:contains=enwoo"))
    plans = [_plan(runtime, statement, parameters) for statement, parameters in statements]
    assert any("ix_search_strings_value_trigram" in plan for plan in plans), plans
