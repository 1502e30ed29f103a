"""The example channel override shipped in config/mappings/ is valid, does what the mapping
guide says, and is in force for no channel of the bundled engine configuration."""

from __future__ import annotations

import pytest
import yaml

from mappings.mapper import Mapper
from support.mapping_configs import AUTHORITIES, CONFIGS, REPO

OVERRIDES = REPO / "config" / "mappings"
EXAMPLE = "example-northside"
MESSAGE = (b"MSH|^~\\&|PAS|NORTH|CB|CB|20240102123000||ADT^A28|1|P|2.5\r"
           b"PID|1||777^^^NORTH^MR||Doe^Jane|Roe|19900101|F|||||5551234^PRN^PH^jane@example.com\r"
           b"ZPI|1|Corner Pharmacy\r")


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return Mapper.from_directories(configs_dir=CONFIGS, overrides_dir=OVERRIDES, authority_systems=AUTHORITIES)


def patient(mapper: Mapper, channel: str | None) -> dict:
    return mapper.map(MESSAGE, channel=channel).resources[0].resource


def test_the_example_override_has_no_problems(mapper):
    assert mapper.check() == []


def test_the_example_channel_maps_the_email_the_pharmacy_and_its_authority(mapper):
    resource = patient(mapper, EXAMPLE)
    assert {"system": "email", "value": "jane@example.com"} in resource["telecom"]
    assert {"url": "https://northside.example/fhir/StructureDefinition/preferred-pharmacy",
            "valueString": "Corner Pharmacy"} in resource["extension"]
    assert {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName",
            "valueString": "Roe"} in resource["extension"]
    assert resource["identifier"][0]["system"] == "urn:oid:1.2.36.1.2001.1003.0.8003621566684455"


def test_other_channels_map_with_the_shipped_configs(mapper):
    resource = patient(mapper, "mllp")
    assert [t["system"] for t in resource["telecom"]] == ["phone"]
    assert all("northside" not in e["url"] for e in resource["extension"])


def test_no_channel_of_the_bundled_engine_config_uses_the_example():
    channels = yaml.safe_load((REPO / "config" / "engine.yaml").read_text())["channels"]
    assert EXAMPLE not in {c["name"] for c in channels}
