"""HL7 over HTTP applies the channel's sender allowlists as MLLP does: a refused message gets
AR and is kept as ``refused``."""

from __future__ import annotations

import yaml

from carebridge.app import create_app
from engine.db.models import Message
from support.config import write_test_config
from support.hl7_messages import adt


def _engine(make_runtime, tmp_path, **channel):
    config = write_test_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["channels"].append({"name": "ward", "type": "http", **channel})
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    runtime = make_runtime(config_path=config, mapper="bundled", workers=0)
    return runtime, create_app(runtime).test_client()


def test_a_post_from_outside_the_allowed_networks_gets_ar_and_is_kept_as_refused(make_runtime, tmp_path):
    runtime, client = _engine(make_runtime, tmp_path, allowed_networks=["10.0.0.0/8"])
    ack = client.post("/hl7/ward", data=adt("A01", "HTTP-NET-1"), content_type="x-application/hl7-v2+er7")
    assert b"MSA|AR|HTTP-NET-1" in ack.data
    with runtime.database.read() as session:
        stored = session.query(Message).filter_by(control_id="HTTP-NET-1").one()
        assert stored.status == "refused"


def test_a_post_from_an_allowed_sender_is_processed(make_runtime, tmp_path):
    runtime, client = _engine(make_runtime, tmp_path, allowed_networks=["127.0.0.0/8"],
                              allowed_senders=[{"application": "HIS", "facility": "HOSP"}])
    assert b"MSA|AA|HTTP-OK-1" in client.post("/hl7/ward", data=adt("A01", "HTTP-OK-1")).data
    other = adt("A01", "HTTP-APP-1").replace(b"|HIS|", b"|LAB|", 1)
    assert b"MSA|AR|HTTP-APP-1" in client.post("/hl7/ward", data=other).data
