"""A message's page (/admin/messages/<id>): its fields by name with escapes decoded, the ACK the engine
sent, the resources it wrote and every delivery of them with their sync-log rows, and the actions a
role may take (replay, retry a parked delivery, resync the patient). A viewer sees the summary, the
resources and the deliveries, never the raw message nor an action."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from engine.db.models import Delivery
from support.engine_process import wait_until
from support.hl7_messages import adt
from support.message_browser import FAMILY, build_console, close_console, receive

#: An NTE whose comment holds every HL7 escape of a delimiter.
ESCAPED_NOTE = b"NTE|1||Call \\F\\ now \\S\\ \\T\\ \\R\\ \\E\\ done"


@pytest.fixture
def engine(database_url, tmp_path, test_config, simulator):
    console = build_console(database_url, tmp_path / "var", test_config, simulator, workers=1)
    yield console
    close_console(console)


def admitted(engine, control_id: str = "DET-1", **fields) -> int:
    """An ADT^A01 with an escaped NTE received over MLLP and its patient delivered to Carepatron."""
    raw = adt("A01", control_id, family=FAMILY, **fields).replace(b"PV1|1|O", ESCAPED_NOTE + b"\rPV1|1|O")
    message_id = receive(engine, raw)
    wait_until(lambda: _deliveries(engine, "delivered"), timeout=15, message="the patient delivered")
    return message_id


def _deliveries(engine, status: str) -> list[Delivery]:
    with engine.runtime.database.read() as session:
        return list(session.scalars(select(Delivery).where(Delivery.status == status)))


def field_row(page: str, label: str) -> tuple[str, str]:
    """The name and the value (as text) of a field in the page's segments table."""
    found = re.search(rf'<td><code>{label}</code></td><td class="field-name">([^<]*)</td><td class="value">(.*?)</td>',
                      page)
    assert found, f"no row for {label}"
    return found.group(1), html.unescape(re.sub(r"<[^>]+>", "", found.group(2)))


def post_forms(page: str) -> list[str]:
    """The actions of the page's POST forms other than signing out."""
    return [a for a in re.findall(r'<form method="post" action="([^"]+)"', page) if not a.endswith("/logout")]


def test_fields_are_shown_with_their_names(engine):
    page = engine.page("operator", f"/admin/messages/{admitted(engine)}")
    assert field_row(page, "PID-5") == ("Patient Name", f"{FAMILY}^Ada^^^^^L")
    assert field_row(page, "MSH-9") == ("Message Type", "ADT^A01^ADT_A01")
    assert field_row(page, "MSH-10") == ("Message Control ID", "DET-1")
    assert field_row(page, "PV1-2") == ("Patient Class", "O")
    assert "PID <span class=\"muted\">Patient Identification</span>" in page


def test_escapes_are_decoded_in_the_fields_and_kept_in_the_raw_text(engine):
    page = engine.page("operator", f"/admin/messages/{admitted(engine)}")
    assert field_row(page, "NTE-3") == ("Comment", "Call | now ^ & ~ \\ done")
    raw = html.unescape(re.search(r'<pre id="raw">(.*?)</pre>', page, re.S).group(1))
    assert ESCAPED_NOTE.decode() in raw and f"PID|1||100001^^^HOSP^MR||{FAMILY}^Ada" in raw


def test_the_ack_the_engine_sent_is_shown(engine):
    message_id = admitted(engine)
    for role in ("operator", "viewer"):  # an ACK holds codes and ids, no patient data
        page = engine.page(role, f"/admin/messages/{message_id}")
        ack = html.unescape(re.search(r'<pre id="ack">(.*?)</pre>', page, re.S).group(1))
        assert "\nMSA|AA|DET-1" in ack
        assert field_row(page, "MSA-1") == ("Acknowledgment Code", "AA")
        assert 'Acknowledgment code (MSA-1):\n    <strong class="ok">AA</strong>' in page


def test_an_error_ack_is_shown_with_its_reason(engine):
    message_id = receive(engine, adt("A01", "DET-AE").replace(b"ADT^A01^ADT_A01", b"ADT^A24"))
    page = engine.page("viewer", f"/admin/messages/{message_id}")
    assert field_row(page, "MSA-1") == ("Acknowledgment Code", "AE")
    assert re.search(r'<strong class="bad">AE</strong> · [^<]*ADT\^A24', page)
    assert field_row(page, "ERR-3")[0] == "HL7 Error Code"
    assert 'id="no-resources"' in page and 'id="no-deliveries"' in page


def test_the_resources_it_wrote_and_their_history_are_listed(engine):
    first = admitted(engine)
    second = receive(engine, adt("A08", "DET-2", family=FAMILY, city="Shelbyville"))
    with engine.runtime.database.read() as session:
        patient = session.scalars(select(Delivery.resource_id)).first()
    page = engine.page("viewer", f"/admin/messages/{first}")
    row = re.search(r'<table class="resources" id="resources">(.*?)</table>', page, re.S).group(1)
    assert f"<code>Patient/{patient}</code>" in row
    assert re.search(r'<td class="num">1</td>\s*<td>changed</td>\s*<td class="num">2</td>', row)
    assert "v1 create" in row and "this message" in row
    assert f'<a href="/admin/messages/{second}">message {second}</a>' in row  # v2 came from the A08


def test_its_deliveries_are_shown_with_their_sync_log_rows(engine):
    page = engine.page("viewer", f"/admin/messages/{admitted(engine)}")
    delivery = _deliveries(engine, "delivered")[0]
    section = re.search(rf'<section class="delivery" id="delivery-{delivery.id}".*?</section>', page, re.S).group(0)
    assert f"<code>Patient/{delivery.resource_id}</code> v1 to carepatron" in section
    assert '<span class="ok">delivered</span>' in section
    assert "1 attempt · automatic" in section and f"remote id <code>{delivery.remote_id}</code>" in section
    assert re.search(r'<tr class="sync-log">.*?<td>automatic</td><td class="ok">success</td><td class="num">1</td>'
                     r'<td>created /clients/', section)


def test_a_viewer_sees_no_raw_message_and_no_action(engine):
    page = engine.page("viewer", f"/admin/messages/{admitted(engine)}")
    assert 'id="raw-hidden"' in page and 'id="raw"' not in page and 'id="segments"' not in page
    assert FAMILY not in page and "100001" not in page  # neither in fields nor in the resources' JSON
    assert post_forms(page) == []
    assert 'id="resources"' in page and 'class="delivery"' in page


def test_each_role_is_offered_the_actions_it_may_take(engine):
    message_id = admitted(engine)
    operator = post_forms(engine.page("operator", f"/admin/messages/{message_id}"))
    assert operator == [f"/admin/messages/{message_id}/replay", f"/admin/messages/{message_id}/resync"]
    integrator = engine.page("integrator", f"/admin/messages/{message_id}")
    assert post_forms(integrator) == [f"/admin/messages/{message_id}/replay"]
    assert 'id="raw-hidden"' in integrator  # an integrator replays, but does not read patient data


def test_showing_the_raw_message_is_audited(engine):
    message_id = admitted(engine)
    engine.page("operator", f"/admin/messages/{message_id}")
    record = engine.runtime.access.audit.find(agent="operator-user", limit=1)[0]
    assert (record.subtype, record.surface, record.entity_type, record.entity_id) == \
        ("raw", "console", "Message", str(message_id))
    engine.page("viewer", f"/admin/messages/{message_id}")
    assert not [r for r in engine.runtime.access.audit.find(agent="viewer-user") if r.subtype == "raw"]


def test_an_operator_replays_the_message_from_its_page(engine):
    message_id = admitted(engine)
    path = f"/admin/messages/{message_id}"
    answer = engine.post_form("operator", path, f"{path}/replay")
    assert answer.status_code == 302 and answer.headers["Location"].endswith(path)
    page = engine.page("operator", path)
    assert f"Message {message_id} replayed: accepted" in page
    assert [(r.subtype, r.entity_id) for r in engine.runtime.access.audit.find(agent="operator-user", limit=2)] \
        == [("raw", str(message_id)), ("replay", str(message_id))]
    assert re.search(r'<td class="num">1</td>\s*<td>unchanged</td>', page)  # the replay changed nothing


def test_an_operator_retries_a_parked_delivery_from_the_message_page(engine, simulator):
    simulator.faults.fail_next(1, status=400, method="POST", path="/clients")
    message_id = receive(engine, adt("A01", "DET-RETRY"))
    parked = wait_until(lambda: _deliveries(engine, "failed"), timeout=15, message="the delivery parked")[0]
    path = f"/admin/messages/{message_id}"
    action = f"{path}/deliveries/{parked.id}/retry"
    assert action in post_forms(engine.page("operator", path))
    assert action not in post_forms(engine.page("viewer", path))
    assert engine.post_form("operator", path, action).status_code == 302
    wait_until(lambda: _deliveries(engine, "delivered"), timeout=15, message="the retried delivery")
    page = engine.page("operator", path)
    assert f"Delivery {parked.id} to carepatron will be tried again" in page
    section = re.search(rf'<section class="delivery" id="delivery-{parked.id}".*?</section>', page, re.S).group(0)
    assert re.findall(r'<td>(\w+)</td><td(?: class="\w+")?>(\w+)</td>', section) == \
        [("automatic", "parked"), ("retry", "requested"), ("retry", "success")]


def test_an_operator_resyncs_the_patient_from_the_message_page(engine):
    message_id = admitted(engine)
    path = f"/admin/messages/{message_id}"
    patient = re.search(r'name="patient" value="([^"]+)"', engine.page("operator", path)).group(1)
    answer = engine.post_form("operator", path, f"{path}/resync", {"patient": patient, "destination": "carepatron"})
    assert answer.status_code == 302
    page = engine.page("operator", path)
    assert f"Patient/{patient}: 1 deliveries planned to carepatron" in page
    assert "· manual" in page  # the resync's delivery of the same version is listed with the message
    record = engine.runtime.access.audit.find(agent="operator-user", limit=2)[1]
    assert (record.subtype, record.entity_type, record.entity_id) == ("resync", "Patient", patient)


def test_a_viewer_may_not_post_an_action(engine):
    message_id = admitted(engine)
    path = f"/admin/messages/{message_id}"
    for action in ("replay", "resync", "deliveries/1/retry"):
        assert engine.post_form("viewer", path, f"{path}/{action}").status_code == 403


def test_a_message_without_msh_shows_its_raw_text_and_why_it_is_not_parsed(engine):
    message_id = receive(engine, b"not an HL7 message")
    page = engine.page("operator", f"/admin/messages/{message_id}")
    assert "Not parseable as HL7 v2" in page
    assert '<pre id="raw">not an HL7 message</pre>' in page
    assert "MSA|AR|" in html.unescape(page)


def test_an_unknown_message_is_not_found(engine):
    assert engine.get("viewer", "/admin/messages/999999").status_code == 404


def test_a_stored_file_is_not_shown_as_text_nor_offered_for_replay(engine):
    message_id = engine.runtime.store.store_file(b"%PDF-1.7\n\xe2\xe3\xcf\xd3\n", "inbox",
                                                 content_type="application/pdf", file_name="100001_scan.pdf")
    page = engine.page("operator", f"/admin/messages/{message_id}")
    assert "bytes of application/pdf: not text, not shown" in page
    assert 'id="no-ack"' in page
    assert f"/admin/messages/{message_id}/replay" not in post_forms(page)
