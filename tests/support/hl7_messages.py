"""HL7 v2 messages for tests, built from fictional patients (no real data)."""

from __future__ import annotations

from datetime import datetime, timezone


def adt(event: str = "A01", control_id: str = "MSG0001", *, mrn: str = "100001", family: str = "Testperson",
        given: str = "Ada", birth_date: str = "19800214", sex: str = "F", email: str = "ada@example.org",
        street: str = "1 Harbour St", city: str = "Springfield", phone: str = "^PRN^PH^^^555^0100") -> bytes:
    """An ADT message with PID filled the way hospitals commonly send it."""
    now = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    segments = [
        f"MSH|^~\\&|HIS|HOSP|CAREBRIDGE|CB|{now}||ADT^{event}^ADT_A01|{control_id}|P|2.5.1",
        f"EVN|{event}|{now}",
        f"PID|1||{mrn}^^^HOSP^MR||{family}^{given}^^^^^L||{birth_date}|{sex}|||{street}^^{city}^^12345^AU^H||"
        f"{phone}~^NET^Internet^{email}",
        "PV1|1|O",
    ]
    return ("\r".join(segments) + "\r").encode()


def read_answer(sock) -> bytes:
    """What an MLLP server sends back on ``sock`` (plain or TLS), up to the end of its frame or the close."""
    received = b""
    while not received.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received
