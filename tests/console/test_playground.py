"""The mapping playground (/admin/playground): an integrator pastes or uploads an HL7 v2 message and
sees the Bundle a channel's mapping makes of it, its validation problems and the mapping's notes or
error; nothing is stored and the message is not logged."""

from __future__ import annotations

import html
import io
import logging
import re

from sqlalchemy import func, select

from engine.db.models import Message, MessageResource, ResourceRecord, ResourceVersion
from foundation import decimal_json
from support.access import csrf_of
from support.hl7_messages import adt

FAMILY = "Playgroundperson"


def pasted(raw: bytes) -> str:
    """A message as a browser's textarea sends it: lines ended by CR LF."""
    return raw.decode().replace("\r", "\r\n")


def try_message(client, **fields):
    token = csrf_of(client.get("/admin/playground").get_data(as_text=True))
    return client.post("/admin/playground", data={"csrf_token": token, "channel": "mllp", **fields},
                       content_type="multipart/form-data")


def bundle_of(page: str) -> dict:
    found = re.search(r'<pre id="bundle">(.*?)</pre>', page, re.S)
    assert found, page
    return decimal_json.loads(html.unescape(found.group(1)))


def stored_counts(runtime) -> list[int]:
    with runtime.database.read() as session:
        return [session.scalar(select(func.count()).select_from(table))
                for table in (Message, ResourceRecord, ResourceVersion, MessageResource)]


def test_a_pasted_message_maps_to_a_bundle(secured, signed_in):
    answer = try_message(signed_in("integrator"), message=pasted(adt(family=FAMILY)))
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and 'id="valid"' in page
    bundle = bundle_of(page)
    [patient] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert bundle["resourceType"] == "Bundle" and patient["name"][0]["family"] == FAMILY
    assert "EVN not carried" in page  # the mapping's notes


def test_an_uploaded_file_maps_too(secured, signed_in):
    answer = try_message(signed_in("integrator"), file=(io.BytesIO(adt(family=FAMILY)), "adt.hl7"))
    assert answer.status_code == 200 and bundle_of(answer.get_data(as_text=True))["type"] == "collection"


def test_a_bad_message_shows_the_element_at_fault(secured, signed_in):
    bad = adt(family=FAMILY).replace(b"@example.org", b"@example.org|||A  B^Odd")  # PID-16 with a bad code
    page = try_message(signed_in("integrator"), message=pasted(bad)).get_data(as_text=True)
    error = re.search(r'id="mapping-error">(.*?)</p>', page, re.S).group(1)
    assert "PID-16" in error and "Patient.maritalStatus" in error and 'id="bundle"' not in page


def test_an_unsupported_message_type_is_named(secured, signed_in):
    unsupported = adt(family=FAMILY).replace(b"ADT^A01^ADT_A01", b"ZZZ^Z01")
    page = try_message(signed_in("integrator"), message=pasted(unsupported)).get_data(as_text=True)
    assert "ZZZ^Z01" in html.unescape(re.search(r'id="mapping-error">(.*?)</p>', page, re.S).group(1))


def test_the_playground_stores_nothing_and_logs_no_message(secured, signed_in, caplog):
    client = signed_in("integrator")
    before = stored_counts(secured)
    with caplog.at_level(logging.DEBUG):
        assert try_message(client, message=pasted(adt(family=FAMILY))).status_code == 200
    assert stored_counts(secured) == before
    assert FAMILY not in caplog.text


def test_a_channel_that_is_not_hl7_is_refused(secured, signed_in):
    answer = try_message(signed_in("integrator"), message=pasted(adt()), channel="inbox")
    assert answer.status_code == 400


def test_an_operator_may_not_use_the_playground(secured, signed_in):
    client = signed_in("operator")
    token = csrf_of(client.get("/admin/").get_data(as_text=True))
    assert client.get("/admin/playground").status_code == 403
    answer = client.post("/admin/playground", data={"csrf_token": token, "channel": "mllp", "message": "MSH|"})
    assert answer.status_code == 403
    assert "/admin/playground" not in client.get("/admin/").get_data(as_text=True)


def test_the_playground_is_in_the_integrators_navigation(secured, signed_in):
    assert 'href="/admin/playground"' in signed_in("integrator").get("/admin/").get_data(as_text=True)
