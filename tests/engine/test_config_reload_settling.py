"""An edited config is applied only once its file has stopped changing: a file being written is
never read half-written, even when the half is valid YAML (fewer routes, fewer entries)."""

from __future__ import annotations

import shutil
import time

import yaml

from engine.config.engine_config import load_engine_config
from engine.config.reloader import ConfigReloader
from engine.routing.router import Router, Source
from foundation.settled_edits import SETTLE_SECONDS
from mappings.mapper import Mapper
from support.hl7_messages import adt
from support.mapping_configs import AUTHORITIES, CONFIGS

PATIENT = {"resourceType": "Patient", "id": "p-1"}
#: Past the settling time, whatever the timer's resolution.
SETTLED = SETTLE_SECONDS + 0.05


def _routed(router: Router) -> list[tuple[str, str]]:
    return router.matching_routes(PATIENT, Source())


def test_a_half_written_routes_file_is_not_applied_until_it_is_finished(test_config):
    router = Router(load_engine_config(test_config, {}).routes, {"carepatron"}, config_path=test_config, environ={})
    reloader = ConfigReloader({"routes": router.check_file}, interval=60)
    assert _routed(router) == [("patients-to-carepatron", "carepatron")]

    data = yaml.safe_load(test_config.read_text())
    data["routes"] = [dict(data["routes"][0], name="everything-to-carepatron")]
    edited = yaml.safe_dump(data, sort_keys=False)
    cut = edited.index("routes:")  # the first part alone is a valid configuration without routes
    with open(test_config, "w") as file:  # truncated, then written in two parts
        file.write(edited[:cut])
        file.flush()
        assert reloader.check_once() == []
        time.sleep(SETTLE_SECONDS / 2)
        assert reloader.check_once() == []
        assert _routed(router) == [("patients-to-carepatron", "carepatron")]

        file.write(edited[cut:])
    assert reloader.check_once() == []
    assert _routed(router) == [("patients-to-carepatron", "carepatron")]

    time.sleep(SETTLED)
    assert reloader.check_once() == ["routes"]
    assert _routed(router) == [("everything-to-carepatron", "carepatron")]


def _gender(mapper: Mapper) -> str:
    return mapper.map(adt(sex="F"), channel="northside").resources[0].resource["gender"]


def test_a_half_written_mapping_override_is_not_applied_until_it_is_finished(tmp_path):
    shutil.copytree(CONFIGS, tmp_path / "configs")
    channel = tmp_path / "overrides" / "northside"
    channel.mkdir(parents=True)
    override = channel / "sex.yaml"
    override.write_text("kind: code_table\nname: AdministrativeSex\nmap:\n  F: other\n")
    mapper = Mapper.from_directories(configs_dir=tmp_path / "configs", overrides_dir=tmp_path / "overrides",
                                     authority_systems=AUTHORITIES)
    reloader = ConfigReloader({"mappings": mapper.reload_if_changed}, interval=60)
    assert _gender(mapper) == "other"

    head, rest = "kind: code_table\nname: AdministrativeSex\n", "map:\n  F: unknown\n"
    with open(override, "w") as file:  # the head alone is valid: an override with no entries (F: female again)
        file.write(head)
        file.flush()
        assert reloader.check_once() == []
        time.sleep(SETTLE_SECONDS / 2)
        assert reloader.check_once() == []
        assert _gender(mapper) == "other"

        file.write(rest)
    assert reloader.check_once() == []
    assert _gender(mapper) == "other"

    time.sleep(SETTLED)
    assert reloader.check_once() == ["mappings"]
    assert _gender(mapper) == "unknown"
