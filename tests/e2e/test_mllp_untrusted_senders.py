"""A sender that tries to exhaust the engine over MLLP: a message with a field repeated 100,000
times gets AE at once (kept whole, the engine's memory not blown up), and connections past the
channel's ``max_connections`` are closed unanswered while those open already keep working."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import hl7
import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from engine.db.models import Message
from support.config import TEST_API_KEY, write_test_config
from support.engine_process import start_engine, wait_until
from support.hl7_messages import adt, read_answer

pytestmark = pytest.mark.e2e

SB, EB, CR = b"\x0b", b"\x1c", b"\r"
#: The channel's cap on open connections in these tests.
MAX_CONNECTIONS = 3


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from simulators.carepatron import CarepatronSimulator

    tmp_path = tmp_path_factory.mktemp("untrusted")
    config = write_test_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["channels"][0]["max_connections"] = MAX_CONNECTIONS
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    with CarepatronSimulator(api_key=TEST_API_KEY) as simulator:
        running = start_engine(tmp_path, {"CAREPATRON_BASE_URL": simulator.base_url,
                                          "CAREPATRON_API_KEY": TEST_API_KEY, "CAREBRIDGE_CONFIG": str(config)})
        running.database_url = f"sqlite:///{tmp_path / 'var' / 'carebridge.db'}"
        yield running
        assert running.stop() == 0, running.log()


def exchange(sock: socket.socket, message: bytes) -> tuple[str, str]:
    """Send one framed message and read its ACK's MSA-1 and MSA-2."""
    sock.sendall(SB + message + EB + CR)
    reply = read_answer(sock)
    assert reply.endswith(EB + CR), f"no whole answer: {reply[:80]!r}"
    msa = hl7.parse(reply.strip(SB + EB + CR).decode()).segment("MSA")
    return str(msa[1]), str(msa[2])


def connect(engine) -> socket.socket:
    return socket.create_connection(("127.0.0.1", engine.mllp_port), timeout=10)


def resident_kib(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def kept(engine, control_id: str) -> Message:
    database = create_engine(engine.database_url)
    try:
        with Session(database) as session:
            return session.scalars(select(Message).where(Message.control_id == control_id)).one()
    finally:
        database.dispose()


def test_field_repeated_100000_times_gets_ae_at_once_and_the_next_message_is_answered(engine):
    reps = b"~".join(b"%08d^^^HOSP^MR" % n for n in range(100_000))
    big = adt("A01", "HUGE-PID3").replace(b"100001^^^HOSP^MR", reps)
    assert len(big) > 1_000_000
    before = resident_kib(engine.process.pid)
    with connect(engine) as sock:
        started = time.monotonic()
        assert exchange(sock, big) == ("AE", "HUGE-PID3")
        refused_in = time.monotonic() - started
        started = time.monotonic()
        assert exchange(sock, adt("A08", "AFTER-HUGE")) == ("AA", "AFTER-HUGE")
        answered_in = time.monotonic() - started
    grew = resident_kib(engine.process.pid) - before
    assert refused_in < 3 and answered_in < 2, (refused_in, answered_in)
    assert grew < 100 * 1024, f"the engine grew by {grew // 1024} MB"
    message = kept(engine, "HUGE-PID3")
    assert (message.status, message.raw) == ("error", big)
    assert "CAREBRIDGE_HL7_MAX_REPETITIONS" in message.error


def served_connection(engine, control_id: str, timeout: float = 10) -> socket.socket:
    """A connection whose first message got its AA. The listener counts a connection until it has seen it
    close, which may come a moment after the client closed it (an earlier test's): try again until then."""
    deadline = time.monotonic() + timeout
    while True:
        sock = connect(engine)
        try:
            assert exchange(sock, adt("A08", control_id)) == ("AA", control_id)
            return sock
        except (ConnectionError, AssertionError):
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_connection_past_max_connections_is_closed_unanswered_and_open_ones_keep_working(engine):
    open_ones = []
    try:
        for number in range(MAX_CONNECTIONS):
            open_ones.append(served_connection(engine, f"OPEN-{number}"))
        with connect(engine) as extra:
            port = extra.getsockname()[1]
            started = time.monotonic()
            try:
                extra.sendall(SB + adt("A08", "ONE-TOO-MANY") + EB + CR)
                answer = extra.recv(65536)
            except ConnectionError:
                answer = b""
            assert answer == b"" and time.monotonic() - started < 2
        wait_until(lambda: f"MLLP connection from 127.0.0.1:{port} refused" in engine.log(), timeout=10,
                   message="the refusal in the log")
        for number, sock in enumerate(open_ones):
            assert exchange(sock, adt("A08", f"STILL-{number}")) == ("AA", f"STILL-{number}")
    finally:
        for sock in open_ones:
            sock.close()

    def a_new_one_is_served():
        try:
            with connect(engine) as sock:
                return exchange(sock, adt("A08", "AFTER-CLOSE")) == ("AA", "AFTER-CLOSE")
        except (ConnectionError, AssertionError):
            return False

    wait_until(a_new_one_is_served, timeout=10, message="a connection once the others closed")
