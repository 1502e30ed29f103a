"""Bad input over MLLP gets AR or a closed connection, is kept where it can be, and never
stops the listener from serving the next client."""

from __future__ import annotations

import os
import socket
import uuid

import hl7
import pytest
import yaml
from hl7.client import MLLPClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from engine.db.models import Message
from support.config import TEST_API_KEY, write_test_config
from support.engine_process import start_engine, wait_until
from support.hl7_messages import adt, read_answer

pytestmark = pytest.mark.e2e

SB, EB, CR = b"\x0b", b"\x1c", b"\r"
#: A small limit so the oversized case stays quick.
LIMIT = 64 * 1024
#: A short idle time-out for the engine that waits on a stalled sender.
IDLE_SECONDS = 1


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from simulators.carepatron import CarepatronSimulator

    tmp_path = tmp_path_factory.mktemp("mllp")
    with CarepatronSimulator(api_key=TEST_API_KEY) as simulator:
        engine = start_engine(tmp_path, {
            "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
            "CAREBRIDGE_CONFIG": str(write_test_config(tmp_path)),
            "CAREBRIDGE_MLLP_MAX_MESSAGE_BYTES": str(LIMIT)})
        engine.database_url = f"sqlite:///{tmp_path / 'var' / 'carebridge.db'}"
        yield engine
        assert engine.stop() == 0, engine.log()


def raw_exchange(port: int, data: bytes, *, read: bool = True) -> bytes:
    """Send bytes as they are and read what comes back until the server answers or closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        if not read:
            return b""
        return read_answer(sock)


def read_ack(sock: socket.socket) -> bytes:
    """Read one framed answer; fail if the connection closes before it is whole."""
    reply = b""
    while not reply.endswith(EB + CR):
        chunk = sock.recv(65536)
        assert chunk, "the connection closed without an answer"
        reply += chunk
    return reply


def ack_code(reply: bytes) -> tuple[str, str]:
    message = hl7.parse(reply.strip(SB + EB + CR).decode())
    return str(message.segment("MSA")[1]), str(message.segment("MSA")[2])


def listener_still_serves(engine) -> None:
    with MLLPClient("127.0.0.1", engine.mllp_port) as client:
        reply = client.send_message(adt("A04", control_id="AFTER-BAD"))
    assert ack_code(reply) == ("AA", "AFTER-BAD")


def stored_errors(engine) -> list[Message]:
    database = create_engine(engine.database_url)
    try:
        with Session(database) as session:
            return list(session.scalars(select(Message).where(Message.status == "error").order_by(Message.id)))
    finally:
        database.dispose()


def refuse_inserts(engine, table: str, when: str) -> None:
    """Make the engine's own database refuse some inserts, as a full disk or a broken table would."""
    database = create_engine(engine.database_url)
    try:
        with database.begin() as connection:
            connection.execute(text(f"CREATE TRIGGER refuse_{uuid.uuid4().hex} BEFORE INSERT ON {table} "
                                    f"WHEN {when} BEGIN SELECT RAISE(ABORT, 'database refused the write'); END"))
    finally:
        database.dispose()


def message_status(engine, control_id: str) -> str | None:
    database = create_engine(engine.database_url)
    try:
        with Session(database) as session:
            return session.scalar(select(Message.status).where(Message.control_id == control_id))
    finally:
        database.dispose()


def test_random_bytes_in_a_frame_get_ar_and_are_kept(engine):
    junk = bytes(b % 250 + 1 for b in os.urandom(300)).replace(SB, b"x").replace(EB, b"y")
    reply = raw_exchange(engine.mllp_port, SB + junk + EB + CR)
    assert ack_code(reply)[0] == "AR"
    assert any(m.raw == junk for m in stored_errors(engine))
    listener_still_serves(engine)


def test_frame_without_msh_gets_ar_with_empty_msa2(engine):
    reply = raw_exchange(engine.mllp_port, SB + b"PID|1||12345^^^HOSP^MR" + CR + EB + CR)
    assert ack_code(reply) == ("AR", "")
    assert "MSH" in stored_errors(engine)[-1].error
    listener_still_serves(engine)


def test_oversized_message_gets_ar_echoing_msh10_and_connection_closed(engine):
    big = adt("A01", control_id="TOO-BIG") + b"NTE|1||" + b"x" * (LIMIT + 1024) + CR
    with socket.create_connection(("127.0.0.1", engine.mllp_port), timeout=10) as sock:
        sock.sendall(SB + big + EB + CR)
        reply = read_ack(sock)
        assert ack_code(reply) == ("AR", "TOO-BIG")
        assert sock.recv(65536) == b"", "the connection stays open after the AR"
    kept = stored_errors(engine)[-1]
    assert kept.control_id == "TOO-BIG" and "larger than the limit" in kept.error
    listener_still_serves(engine)


def test_connection_dropped_mid_frame_keeps_the_partial_message(engine):
    message = adt("A01", control_id="HALF-SENT")
    partial = message[:message.index(b"PID|") + 20]  # MSH whole, PID cut short
    raw_exchange(engine.mllp_port, SB + partial, read=False)
    kept = wait_until(lambda: [m for m in stored_errors(engine) if m.control_id == "HALF-SENT"], timeout=10,
                      message="the partial message to be kept")
    assert "closed in the middle" in kept[0].error
    listener_still_serves(engine)


def test_garbage_before_a_frame_does_not_lose_the_frame(engine):
    reply = raw_exchange(engine.mllp_port, b"\x00\x01garbage" + SB + adt("A04", control_id="AFTER-JUNK") + EB + CR)
    assert ack_code(reply) == ("AA", "AFTER-JUNK")


def test_message_type_without_mapping_gets_ae_and_is_kept_as_unsupported(engine):
    message = adt("A01", control_id="ZZZ-1").replace(b"ADT^A01^ADT_A01", b"ZZZ^Z99")
    with MLLPClient("127.0.0.1", engine.mllp_port) as client:
        reply = client.send_message(message)
    assert ack_code(reply) == ("AE", "ZZZ-1")
    assert b"ERR|" in reply and b"200^Unsupported message type" in reply


def test_message_that_cannot_be_stored_gets_ar_echoing_msh10(engine):
    refuse_inserts(engine, "messages", "NEW.control_id = 'NOT-STORED'")
    with MLLPClient("127.0.0.1", engine.mllp_port) as client:
        reply = client.send_message(adt("A01", control_id="NOT-STORED"))
    assert ack_code(reply) == ("AR", "NOT-STORED")
    assert b"ERR|" in reply and b"207^Application internal error" in reply
    assert message_status(engine, "NOT-STORED") is None
    listener_still_serves(engine)


def test_bad_birth_date_gets_ae_with_an_err_segment_naming_pid7(engine):
    with MLLPClient("127.0.0.1", engine.mllp_port) as client:
        reply = client.send_message(adt("A01", control_id="BAD-PID7", birth_date="19801399"))
    assert ack_code(reply) == ("AE", "BAD-PID7")
    err = hl7.parse(reply.strip(SB + EB + CR).decode()).segment("ERR")
    assert str(err[2]) == "PID^7" and str(err[3]).startswith("207^")
    assert message_status(engine, "BAD-PID7") == "error"


def test_no_aa_when_the_resources_cannot_be_written(engine):
    refuse_inserts(engine, "resources", "NEW.content LIKE '%Unwritable%'")
    with MLLPClient("127.0.0.1", engine.mllp_port) as client:
        reply = client.send_message(adt("A01", control_id="NOT-WRITTEN", mrn="700001", family="Unwritable"))
    assert ack_code(reply) == ("AE", "NOT-WRITTEN")
    assert b"could not write resources" in reply
    assert message_status(engine, "NOT-WRITTEN") == "error"
    listener_still_serves(engine)


def test_database_errors_are_logged_without_patient_data(engine):
    refuse_inserts(engine, "messages", "NEW.control_id = 'LOGGED-NOT-STORED'")
    refuse_inserts(engine, "resources", "NEW.content LIKE '%Unwritable%'")
    with MLLPClient("127.0.0.1", engine.mllp_port) as client:
        client.send_message(adt("A01", control_id="LOGGED-NOT-STORED", mrn="700002", family="Hiddenname",
                                email="hidden@example.org"))
        client.send_message(adt("A01", control_id="LOGGED-NOT-WRITTEN", mrn="700003", family="Unwritable",
                                given="Secretgiven", email="secret@example.org"))
    log = engine.log()
    # Both failures were logged, with where and what, not the database's text ...
    assert "could not store a message on channel" in log and "writing resources failed for message" in log
    assert "sqlalchemy.exc.IntegrityError" in log and "database refused the write" not in log
    for phi in ("Hiddenname", "hidden@example.org", "700002", "Secretgiven", "secret@example.org", "700003",
                "19800214"):
        assert phi not in log  # ... without the message or the resource


def test_connection_idle_mid_frame_keeps_the_partial_message_and_gets_ar(tmp_path):
    config = write_test_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["channels"][0]["idle_timeout_seconds"] = IDLE_SECONDS
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    idle_engine = start_engine(tmp_path, {"CAREBRIDGE_CONFIG": str(config)}, name="idle")
    idle_engine.database_url = f"sqlite:///{tmp_path / 'var' / 'carebridge.db'}"
    try:
        message = adt("A01", control_id="STALLED")
        with socket.create_connection(("127.0.0.1", idle_engine.mllp_port), timeout=10) as sock:
            sock.sendall(SB + message[:message.index(b"PID|") + 20])  # then nothing more
            reply = read_ack(sock)
            assert ack_code(reply) == ("AR", "STALLED")
            assert sock.recv(65536) == b""
        [kept] = [m for m in stored_errors(idle_engine) if m.control_id == "STALLED"]
        assert "idle" in kept.error and kept.raw.startswith(b"MSH|")
    finally:
        assert idle_engine.stop() == 0, idle_engine.log()
