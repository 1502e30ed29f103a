"""An integrator remaps one hospital's fields by editing YAML while the engine runs: the
next message is mapped the new way, all the way to Carepatron, with no restart."""

from __future__ import annotations

import hl7
import pytest
import requests
from hl7.client import MLLPClient

from support.config import TEST_API_KEY, write_test_config
from support.engine_process import start_engine, wait_until

pytestmark = pytest.mark.e2e

PHARMACY_URL = "https://northside.example/fhir/StructureDefinition/preferred-pharmacy"
SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"

#: Northside's way: the e-mail in PID-13.4 beside the home phone, the pharmacy in ZPI-2.
NORTHSIDE_OVERRIDE = f"""\
kind: segment_map
name: pid_patient
fields:
  telecom:
    - {{path: "PID-13[*]", type: XTN, defaults: {{use: home}}}}
    - object: {{system: {{value: email}}, value: "PID-13.4"}}
  extension:
    - object:
        url: {{value: "{PHARMACY_URL}"}}
        valueString: ZPI-2
"""


def northside_adt(event: str, control_id: str) -> bytes:
    segments = [
        f"MSH|^~\\&|NORTHSIDE|NS|CAREBRIDGE|CB|20260301101500||ADT^{event}^ADT_A01|{control_id}|P|2.5.1",
        f"EVN|{event}|20260301101500",
        "PID|1||700001^^^HOSP^MR||Northway^Nora^^^^^L||19750607|F|||||555 0199^PRN^PH^nora@example.org",
        "PV1|1|O",
        "ZPI|1|Corner Pharmacy",
    ]
    return ("\r".join(segments) + "\r").encode()


def send(port: int, message: bytes) -> str:
    with MLLPClient("127.0.0.1", port) as client:
        return str(hl7.parse(client.send_message(message).strip(b"\x0b\x1c\r")).segment("MSA")[1])


def test_editing_a_channel_override_changes_the_next_message(tmp_path, simulator):
    engine = start_engine(tmp_path, {
        "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
        "CAREBRIDGE_CONFIG": str(write_test_config(tmp_path)), "CAREBRIDGE_CONFIG_RELOAD_SECONDS": "0.3"})
    try:
        assert send(engine.mllp_port, northside_adt("A01", "NS-1")) == "AA"
        [client] = wait_until(lambda: simulator.records("clients"), message="the first message delivered")
        assert "email" not in client  # the shipped map reads e-mail from XTN-3 Internet only

        override = tmp_path / "mappings" / "mllp" / "pid_patient.yaml"
        override.parent.mkdir(parents=True)
        override.write_text(NORTHSIDE_OVERRIDE)
        wait_until(lambda: "reloaded mappings configuration" in engine.log(), timeout=15, message="the reload")

        assert send(engine.mllp_port, northside_adt("A08", "NS-2")) == "AA"
        clients = wait_until(lambda: [c for c in simulator.records("clients") if c.get("email")],
                             message="the remapped e-mail at Carepatron")
        assert clients[0]["email"] == "nora@example.org" and len(simulator.records("clients")) == 1
        bundle = requests.get(f"{engine.base_url}/fhir/Patient", params={"identifier": f"{SYSTEM}|700001"}).json()
        patient = bundle["entry"][0]["resource"]
        assert {"url": PHARMACY_URL, "valueString": "Corner Pharmacy"} in patient["extension"]
    finally:
        assert engine.stop() == 0, engine.log()


def test_invalid_edit_is_refused_and_the_last_good_mapping_stays(tmp_path, simulator):
    engine = start_engine(tmp_path, {
        "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
        "CAREBRIDGE_CONFIG": str(write_test_config(tmp_path)), "CAREBRIDGE_CONFIG_RELOAD_SECONDS": "0.3"})
    try:
        override = tmp_path / "mappings" / "mllp" / "pid_patient.yaml"
        override.parent.mkdir(parents=True)
        override.write_text("kind: segment_map\nname: pid_patient\nfields:\n  telecom: {path: 42}\n")
        wait_until(lambda: "pid_patient.yaml:4" in engine.log(), timeout=15, message="the refusal in the log")
        assert send(engine.mllp_port, northside_adt("A01", "NS-3")) == "AA"
        wait_until(lambda: simulator.records("clients"), message="delivery with the last good mapping")
    finally:
        assert engine.stop() == 0, engine.log()
