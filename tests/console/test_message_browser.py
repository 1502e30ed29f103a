"""The console's message browser (/admin/messages) and the admin API's list: every filter, the cursor,
the CSV export and its audit, and the search of the raw text kept to roles that may see raw messages.

One engine per backend serves the module: the messages are received once and only read."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import update

from engine.db.models import Message
from engine.store.message_queries import CSV_COLUMNS
from simulators.carepatron import CarepatronSimulator
from support import services
from support.config import TEST_API_KEY, write_test_config
from support.hl7_messages import adt
from support.message_browser import FAMILY, adt_from, build_console, close_console, listed_ids, receive

#: The Identifier.system the test config gives HOSP's MRNs.
HOSP_SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(request, tmp_path_factory):
    """Five messages received, one backdated to 2026-01-15: ``engine.ids`` names them."""
    tmp = tmp_path_factory.mktemp("browser")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'carebridge.db'}"
    else:
        url = services.emptied_postgres(request.getfixturevalue("postgres_server_url"))
    with CarepatronSimulator(api_key=TEST_API_KEY) as simulator:
        console = build_console(url, tmp / "var", write_test_config(tmp), simulator)
        ids = {
            "a01": receive(console, adt_from("HOSP", "A01", "BR-A01", mrn="200001", family=FAMILY)),
            "a08": receive(console, adt_from("NORTH", "A08", "BR-A08", mrn="200002"), "http"),
            "a24": receive(console, adt("A01", "BR-A24").replace(b"ADT^A01^ADT_A01", b"ADT^A24")),
            "a08b": receive(console, adt_from("HOSP", "A08", "BR-A08-2", mrn="200001")),
            "bad": receive(console, b"not an HL7 message"),
        }
        with console.runtime.database.write() as session:
            session.execute(update(Message).where(Message.id == ids["a01"])
                            .values(received_at=datetime(2026, 1, 15, 8, 0, tzinfo=timezone.utc)))
        console.ids = ids
        yield console
        close_console(console)


def found(engine, query: str, role: str = "operator") -> list[int]:
    return listed_ids(engine.page(role, f"/admin/messages?{query}"))


def named(engine, *names: str) -> list[int]:
    return [engine.ids[name] for name in names]


def test_the_first_page_lists_every_message_newest_first(engine):
    assert found(engine, "", "viewer") == sorted(engine.ids.values(), reverse=True)


def test_messages_are_found_by_channel(engine):
    assert found(engine, "channel=http") == named(engine, "a08")


def test_messages_are_found_by_status(engine):
    assert found(engine, "status=unsupported") == named(engine, "a24")
    assert found(engine, "status=error") == named(engine, "bad")
    assert found(engine, "channel=mllp&status=mapped") == named(engine, "a08b", "a01")


def test_messages_are_found_by_message_type_and_trigger(engine):
    assert found(engine, "type=ADT") == named(engine, "a08b", "a24", "a08", "a01")
    assert found(engine, "trigger=A08") == named(engine, "a08b", "a08")
    assert found(engine, "type=ADT&trigger=A24") == named(engine, "a24")
    assert found(engine, "type=ADT%5EA01") == named(engine, "a01")  # MSH-9 as stored, as the admin API takes it
    assert found(engine, "type=ORU") == []


def test_messages_are_found_by_control_id_exactly(engine):
    assert found(engine, "control_id=BR-A08") == named(engine, "a08")


def test_messages_are_found_by_sending_facility(engine):
    assert found(engine, "facility=NORTH") == named(engine, "a08")
    assert found(engine, "facility=HOSP") == named(engine, "a08b", "a24", "a01")


def test_messages_are_found_by_the_patient_identifier_they_wrote(engine):
    assert found(engine, "identifier=200001") == named(engine, "a08b", "a01")
    assert found(engine, f"identifier={HOSP_SYSTEM}%7C200001") == named(engine, "a08b", "a01")
    assert found(engine, "identifier=urn:other%7C200001") == []
    assert found(engine, "identifier=200002", "viewer") == named(engine, "a08")


def test_messages_are_found_by_the_day_or_time_they_were_received(engine):
    assert found(engine, "since=2026-01-15&until=2026-01-15") == named(engine, "a01")
    assert found(engine, "since=2026-01-15T07:59&until=2026-01-15T08:01") == named(engine, "a01")
    assert found(engine, "until=2026-01-15T07:59:59Z") == []
    assert engine.ids["a01"] not in found(engine, "since=2026-01-16")


def test_a_time_that_is_not_iso_8601_is_a_bad_request(engine):
    answer = engine.get("operator", "/admin/messages?since=yesterday")
    assert answer.status_code == 400
    assert "since must be an ISO 8601 date or time" in answer.get_data(as_text=True)


def test_an_operator_finds_messages_by_their_raw_text_in_any_case(engine):
    assert found(engine, f"q={FAMILY.lower()}") == named(engine, "a01")
    assert found(engine, "q=%7CBR-A08%7C") == named(engine, "a08")  # HL7 delimiters are plain text here
    assert found(engine, "q=BR%25A08") == []  # and so is LIKE's wildcard
    assert found(engine, "q=not+an+HL7") == named(engine, "bad")


def test_a_search_of_the_raw_text_is_audited_with_its_filter_names(engine):
    found(engine, f"q={FAMILY}&channel=mllp")
    record = engine.runtime.access.audit.find(agent="operator-user", limit=1)[0]
    assert (record.subtype, record.surface, record.entity_type, record.query, record.outcome) == \
        ("raw", "console", "Message", "channel,q", "0")


def test_a_viewer_may_not_search_the_raw_text_and_is_not_offered_to(engine):
    assert 'name="q"' not in engine.page("viewer", "/admin/messages")
    assert 'name="q"' in engine.page("operator", "/admin/messages")
    refused = engine.get("viewer", f"/admin/messages?q={FAMILY}")
    assert refused.status_code == 403
    assert "may not search the text of raw messages" in refused.get_data(as_text=True)
    assert engine.get("viewer", f"/admin/messages.csv?q={FAMILY}").status_code == 403
    record = engine.runtime.access.audit.find(agent="viewer-user", limit=1)[0]
    assert (record.subtype, record.query, record.outcome) == ("raw", "q", "4")


def test_pages_follow_a_cursor_of_ids_and_keep_the_filters(engine, monkeypatch):
    monkeypatch.setattr("routes.console_messages.PAGE_SIZE", 2)
    first = engine.page("operator", "/admin/messages?type=ADT&status=")
    assert listed_ids(first) == named(engine, "a08b", "a24")
    older = re.search(r'<a href="([^"]+)" rel="next">', first).group(1).replace("&amp;", "&")
    assert older == f"/admin/messages?type=ADT&before={engine.ids['a24']}"
    second = engine.page("operator", older)
    assert listed_ids(second) == named(engine, "a08", "a01")
    third = engine.page("operator", re.search(r'<a href="([^"]+)" rel="next">', second).group(1).replace("&amp;", "&"))
    assert listed_ids(third) == [] and 'rel="next"' not in third
    assert '<a href="/admin/messages?type=ADT">Newest</a>' in third


def test_the_search_form_is_a_get_form_that_shows_what_was_asked(engine):
    page = engine.page("viewer", "/admin/messages?control_id=BR-A08&channel=http")
    assert '<form class="filters" id="message-search" method="get" action="/admin/messages"' in page
    assert 'name="control_id" value="BR-A08"' in page
    assert "<option selected>http</option>" in page


def test_the_page_exports_as_csv_of_ids_codes_and_times(engine):
    page = engine.page("viewer", "/admin/messages?type=ADT&trigger=A08")
    link = re.search(r'<a href="([^"]+)" download>', page).group(1).replace("&amp;", "&")
    assert link == "/admin/messages.csv?type=ADT&trigger=A08"
    answer = engine.get("viewer", link)
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [int(row[0]) for row in rows[1:]] == named(engine, "a08b", "a08")
    assert [row[CSV_COLUMNS.index("controlId")] for row in rows[1:]] == ["BR-A08-2", "BR-A08"]
    text = answer.get_data(as_text=True)
    assert "200001" not in text and "Testperson" not in text  # no patient data


def test_an_export_is_audited_with_the_names_of_its_filters_never_their_values(engine):
    engine.get("viewer", "/admin/messages.csv?identifier=200001&since=2026-01-01")
    record = engine.runtime.access.audit.find(agent="viewer-user", limit=1)[0]
    assert (record.subtype, record.surface, record.entity_type, record.query, record.outcome) == \
        ("export", "console", "Message", "identifier,since", "0")
    assert "200001" not in (record.detail or "")


def test_the_admin_api_takes_the_same_filters(engine):
    answer = engine.api("viewer", "/admin/api/messages?identifier=200001&trigger=A08")
    assert [m["id"] for m in answer.get_json()["items"]] == named(engine, "a08b")
    answer = engine.api("viewer", "/admin/api/messages?facility=NORTH&since=2026-01-16")
    assert [m["id"] for m in answer.get_json()["items"]] == named(engine, "a08")
    assert [m["id"] for m in engine.api("viewer", "/admin/api/messages?controlId=BR-A24").get_json()["items"]] \
        == named(engine, "a24")
    assert [m["id"] for m in engine.api("operator", f"/admin/api/messages?q={FAMILY}").get_json()["items"]] \
        == named(engine, "a01")
    refused = engine.api("viewer", f"/admin/api/messages?q={FAMILY}")
    assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"


def test_the_admin_api_pages_by_cursor(engine):
    first = engine.api("viewer", "/admin/api/messages?limit=2").get_json()
    assert [m["id"] for m in first["items"]] == named(engine, "bad", "a08b")
    second = engine.api("viewer", f"/admin/api/messages?limit=2&before={first['next']}").get_json()
    assert [m["id"] for m in second["items"]] == named(engine, "a24", "a08")


def test_the_admin_api_exports_csv_and_audits_it(engine):
    answer = engine.api("viewer", "/admin/api/messages.csv?channel=mllp&status=mapped")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [int(row["id"]) for row in rows] == named(engine, "a08b", "a01")
    assert {row["messageType"] for row in rows} == {"ADT^A01", "ADT^A08"}
    record = engine.runtime.access.audit.find(agent="viewer-user", limit=1)[0]
    assert (record.subtype, record.surface, record.query) == ("export", "admin", "channel,status")
