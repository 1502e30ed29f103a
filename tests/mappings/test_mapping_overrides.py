"""An integrator changes a channel's mapping by editing YAML only, while the engine runs:
the next message is mapped the new way, and a broken edit is refused with file, line and
path while the last good version stays in force."""

from __future__ import annotations

import logging
import os
import shutil
import time

import pytest

from mappings.mapper import Mapper
from support.mapping_configs import AUTHORITIES, CONFIGS
from support.reloads import reload_once_settled

#: Northside puts the e-mail address in PID-13.4 of the home phone repetition, and a
#: preferred pharmacy in its own ZPI segment.
MESSAGE = (b"MSH|^~\\&|PAS|NORTH|CB|CB|20240102123000+1000||ADT^A28|1|P|2.5\r"
           b"PID|1||777^^^HOSP^MR||Doe^Jane||19900101|F|||||5551234^PRN^PH^jane@example.com\r"
           b"ZPI|1|Corner Pharmacy\r")

OVERRIDE = """\
# Northside: e-mail in PID-13.4 beside the phone; preferred pharmacy in ZPI-2.
kind: segment_map
name: pid_patient
fields:
  telecom:
    - {path: "PID-13[*]", type: XTN, defaults: {use: home}}
    - object:
        system: {value: email}
        value: "PID-13.4"
    - {path: "PID-14[*]", type: XTN, defaults: {use: work}}
  extension:
    - object:
        url: {value: "https://northside.example/fhir/StructureDefinition/preferred-pharmacy"}
        valueString: ZPI-2
"""


@pytest.fixture
def workspace(tmp_path):
    shutil.copytree(CONFIGS, tmp_path / "configs")
    channel = tmp_path / "overrides" / "northside"
    channel.mkdir(parents=True)
    mapper = Mapper.from_directories(configs_dir=tmp_path / "configs", overrides_dir=tmp_path / "overrides",
                                     authority_systems=AUTHORITIES)
    return mapper, channel


def write(path, text):
    path.write_text(text)
    # Some filesystems keep whole-second times; make each edit visibly newer.
    stamp = time.time() + 2 + len(text) / 1000
    os.utime(path, (stamp, stamp))


def patient(result):
    return result.resources[0].resource


def test_editing_a_channel_override_maps_the_next_message_the_new_way(workspace):
    mapper, channel = workspace
    before = patient(mapper.map(MESSAGE, channel="northside"))
    assert [t["system"] for t in before["telecom"]] == ["phone"]

    write(channel / "pid_patient.yaml", OVERRIDE)
    assert reload_once_settled(mapper.reload_if_changed)

    after = patient(mapper.map(MESSAGE, channel="northside"))
    assert {"system": "email", "value": "jane@example.com"} in after["telecom"]
    assert after["extension"] == [{"url": "https://northside.example/fhir/StructureDefinition/preferred-pharmacy",
                                   "valueString": "Corner Pharmacy"}]


def test_an_override_applies_to_its_channel_only(workspace):
    mapper, channel = workspace
    write(channel / "pid_patient.yaml", OVERRIDE)
    reload_once_settled(mapper.reload_if_changed)
    assert "extension" not in patient(mapper.map(MESSAGE, channel="southside"))
    assert "extension" not in patient(mapper.map(MESSAGE))


def test_a_broken_edit_is_refused_and_the_last_good_version_stays(workspace, caplog):
    mapper, channel = workspace
    override = channel / "pid_patient.yaml"
    write(override, OVERRIDE)
    reload_once_settled(mapper.reload_if_changed)

    write(override, OVERRIDE.replace("valueString: ZPI-2", "valueString: {path: ZPI-2, type: NOPE}"))
    with caplog.at_level(logging.ERROR):
        reload_once_settled(mapper.reload_if_changed)
    assert any(f"{override}:" in r.getMessage() and "extension.0.object.valueString" in r.getMessage()
               for r in caplog.records)
    assert patient(mapper.map(MESSAGE, channel="northside"))["extension"][0]["valueString"] == "Corner Pharmacy"
    assert any(str(override) in p for p in mapper.check())


def test_a_code_table_entry_is_overridden_per_channel(workspace):
    mapper, channel = workspace
    write(channel / "sex.yaml", "kind: code_table\nname: AdministrativeSex\nmap:\n  F: other\n")
    reload_once_settled(mapper.reload_if_changed)
    assert patient(mapper.map(MESSAGE, channel="northside"))["gender"] == "other"
    assert patient(mapper.map(MESSAGE))["gender"] == "female"


def test_an_override_naming_an_unknown_element_is_reported_by_file_line_and_path(workspace):
    mapper, channel = workspace
    write(channel / "bad.yaml", "kind: segment_map\nname: pid_patient\nfields:\n  favouriteColour: PID-99\n")
    problems = mapper.check()
    assert any(p.startswith(f"{channel / 'bad.yaml'}:4: fields.favouriteColour:") for p in problems), problems


def test_shipped_configs_have_no_problems(mapper):
    assert mapper.check() == []
