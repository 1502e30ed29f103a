"""An FHS/BHS batch sent as one unit: each message is stored, mapped and acknowledged on its own."""

from engine.db.models import Message
from support.hl7_messages import adt


def batch(*messages: bytes) -> bytes:
    return (b"FHS|^~\\&|HIS|HOSP|||20260301||||F-77\rBHS|^~\\&|HIS|HOSP\r" + b"".join(messages)
            + f"BTS|{len(messages)}\rFTS|1\r".encode())


def test_batch_messages_are_each_stored_and_acknowledged(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    receiver = runtime.receivers["mllp"]
    reply = receiver.receive(batch(adt("A01", "B-1", mrn="1"), b"PID|not a message\r", adt("A04", "B-2", mrn="2")))
    segments = reply.decode().strip("\r").split("\r")
    assert segments[0].startswith("FHS|") and segments[1].startswith("BHS|")
    msas = [s for s in segments if s.startswith("MSA|")]
    assert msas == ["MSA|AA|B-1", "MSA|AA|B-2"]
    assert segments[-2:] == ["BTS|2", "FTS|1"]
    with runtime.database.read() as session:
        stored = session.query(Message).order_by(Message.id).all()
    assert [(m.control_id, m.status) for m in stored] == [("B-1", "mapped"), ("B-2", "mapped")]
