"""The message browser stays quick on a large store: with 100,000 messages on SQLite, the first page,
a control-id search and a patient-identifier search each answer well under a second, because each
reads an index instead of scanning the messages (the indexes are checked too)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, inspect, text

from engine.db.models import Message, MessageResource, SearchToken
from simulators.carepatron import CarepatronSimulator
from support.config import TEST_API_KEY, write_test_config
from support.message_browser import build_console, close_console, listed_ids

#: How many messages the store holds.
MESSAGES = 100_000
#: What one search may take, generously: a full scan of 100,000 rows with their raw bytes takes longer.
BUDGET_SECONDS = 1.0
#: A few messages share each patient.
MESSAGES_PER_PATIENT = 4


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("speed")
    with CarepatronSimulator(api_key=TEST_API_KEY) as simulator:
        console = build_console(f"sqlite:///{tmp / 'carebridge.db'}", tmp / "var", write_test_config(tmp), simulator)
        _bulk_insert(console.runtime.database)
        console.page("viewer", "/admin/messages")  # the first request warms the app and the connection
        yield console
        close_console(console)


def _bulk_insert(database) -> None:
    """100,000 messages (with a patient each 4), inserted in one Core statement, not through the pipeline."""
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    messages = [{
        "id": n, "channel": "mllp" if n % 5 else "http", "content_type": "application/hl7-v2", "sender": "HIS|HOSP",
        "control_id": f"CTRL-{n}", "message_type": "ADT^A08" if n % 3 else "ORU^R01", "sha256": "0" * 64,
        "size": 120, "status": "mapped" if n % 17 else "error", "attempts": 1,
        "raw": f"MSH|^~\\&|HIS|HOSP|CB|CB|||ADT^A08|CTRL-{n}|P|2.5.1\rPID|1||MRN-{n // 4}^^^HOSP^MR\r".encode(),
        "received_at": start + timedelta(seconds=n),
    } for n in range(1, MESSAGES + 1)]
    links = [{"message_id": n, "resource_type": "Patient", "resource_id": f"patient-{n // MESSAGES_PER_PATIENT}",
              "version_id": 1, "changed": True} for n in range(1, MESSAGES + 1)]
    tokens = [{"resource_type": "Patient", "resource_id": f"patient-{p}", "param": "identifier",
               "system": "urn:oid:1.2.36.146.595.217.0.1", "code": f"MRN-{p}"}
              for p in range(MESSAGES // MESSAGES_PER_PATIENT + 1)]
    with database.engine.begin() as connection:
        connection.execute(insert(Message.__table__), messages)
        connection.execute(insert(MessageResource.__table__), links)
        connection.execute(insert(SearchToken.__table__), tokens)


def timed(engine, path: str) -> tuple[list[int], float]:
    began = time.perf_counter()
    page = engine.page("viewer", path)
    return listed_ids(page), time.perf_counter() - began


def test_the_indexes_the_browser_reads_exist(engine):
    indexes = {tuple(i["column_names"]) for i in inspect(engine.runtime.database.engine).get_indexes("messages")}
    assert {("control_id",), ("received_at",), ("channel", "status", "id")} <= indexes
    links = {tuple(i["column_names"]) for i in inspect(engine.runtime.database.engine).get_indexes("message_resources")}
    assert ("resource_type", "resource_id", "message_id") in links


def test_the_first_page_of_100000_messages_answers_in_under_a_second(engine):
    ids, seconds = timed(engine, "/admin/messages")
    assert ids == list(range(MESSAGES, MESSAGES - 50, -1))
    assert seconds < BUDGET_SECONDS, f"{seconds:.2f} s"


def test_a_control_id_search_among_100000_messages_answers_in_under_a_second(engine):
    ids, seconds = timed(engine, "/admin/messages?control_id=CTRL-1234")
    assert ids == [1234]
    assert seconds < BUDGET_SECONDS, f"{seconds:.2f} s"


def test_a_patient_identifier_search_among_100000_messages_answers_in_under_a_second(engine):
    ids, seconds = timed(engine, "/admin/messages?identifier=MRN-300")
    assert ids == [1203, 1202, 1201, 1200]
    assert seconds < BUDGET_SECONDS, f"{seconds:.2f} s"


def test_the_searches_read_indexes_not_the_whole_table(engine):
    def plan(sql: str) -> str:
        with engine.runtime.database.engine.connect() as connection:
            return " / ".join(row[-1] for row in connection.execute(text(f"EXPLAIN QUERY PLAN {sql}")))

    # Each walks its index in id order: no sort of what it found.
    by_control_id = plan("SELECT * FROM messages WHERE control_id = 'CTRL-1' ORDER BY id DESC LIMIT 50")
    assert "INDEX ix_messages_control_id (control_id=?)" in by_control_id and "TEMP B-TREE" not in by_control_id
    by_status = plan("SELECT * FROM messages WHERE channel = 'http' AND status = 'error' ORDER BY id DESC LIMIT 50")
    assert "INDEX ix_messages_channel_status (channel=? AND status=?)" in by_status and "TEMP B-TREE" not in by_status
    identifier = plan("SELECT id FROM messages WHERE id IN (SELECT message_id FROM message_resources "
                      "WHERE resource_type = 'Patient' AND resource_id IN (SELECT resource_id FROM search_tokens "
                      "WHERE resource_type = 'Patient' AND param = 'identifier' AND code = 'MRN-1')) "
                      "ORDER BY id DESC LIMIT 50")
    assert "ix_message_resources_resource" in identifier and "ix_search_tokens_lookup" in identifier
    assert "INTEGER PRIMARY KEY" in identifier  # messages are read by id, not scanned
