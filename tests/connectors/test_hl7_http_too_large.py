"""HL7 over HTTP answers a body over the size limit as HL7: an AR naming the limit and saying the
message was not stored (it was never read), with status 413, and the next message is answered."""

from __future__ import annotations

import hl7
import pytest
import requests

from engine.db.models import Message
from support.hl7_messages import adt
from support.ports import free_port

#: The size limit of these tests (bytes).
LIMIT = 4096
HL7_MIMETYPE = "x-application/hl7-v2+er7"


@pytest.fixture
def runtime(make_runtime):
    return make_runtime(mapper="bundled", workers=0, CAREBRIDGE_MLLP_MAX_MESSAGE_BYTES=str(LIMIT))


@pytest.fixture
def client(runtime):
    from carebridge.app import create_app

    return create_app(runtime).test_client()


def too_large() -> bytes:
    return adt("A01", "TOO-LARGE") + b"NTE|1||" + b"x" * (2 * LIMIT) + b"\r"


def acknowledgement(body: bytes) -> hl7.Message:
    return hl7.parse(body.decode())


@pytest.mark.parametrize("path", ["/hl7", "/hl7/mllp"])
def test_body_over_the_limit_gets_an_ar_with_413_naming_the_limit(client, runtime, path):
    answer = client.post(path, data=too_large(), content_type=HL7_MIMETYPE)
    assert answer.status_code == 413 and answer.mimetype == HL7_MIMETYPE
    ack = acknowledgement(answer.data)
    assert str(ack.segment("MSA")[1]) == "AR"
    assert f"message larger than the limit of {LIMIT} bytes; it was not read, so it is not stored" \
        in str(ack.segment("MSA")[3])
    assert str(ack.segment("ERR")[3][0][0]) == "207"
    with runtime.database.read() as session:
        assert session.query(Message).count() == 0
    after = client.post(path, data=adt("A08", "AFTER-LARGE"), content_type=HL7_MIMETYPE)
    assert after.status_code == 200
    assert [str(f) for f in acknowledgement(after.data).segment("MSA")[1:3]] == ["AA", "AFTER-LARGE"]


@pytest.fixture
def listener(runtime):
    """The engine's own HTTP listener (waitress) on a free loopback port."""
    from carebridge.app import create_app
    from carebridge.http_server import start_http_listener

    served = start_http_listener(create_app(runtime), "127.0.0.1", free_port(), None)
    yield f"http://127.0.0.1:{served.port}"
    served.stop()


def test_over_the_limit_through_the_http_listener_whether_sized_or_chunked(listener):
    message = too_large()
    for body in (message, iter([message[:1000], message[1000:]])):  # Content-Length, then chunked
        answer = requests.post(f"{listener}/hl7", data=body, headers={"Content-Type": HL7_MIMETYPE}, timeout=10)
        assert answer.status_code == 413 and answer.headers["Content-Type"].startswith(HL7_MIMETYPE)
        assert str(acknowledgement(answer.content).segment("MSA")[1]) == "AR"
    after = requests.post(f"{listener}/hl7", data=adt("A08", "AFTER-CHUNKED"), timeout=10)
    assert str(acknowledgement(after.content).segment("MSA")[1]) == "AA"
