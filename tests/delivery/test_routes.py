"""Routes: matched by resource type, source channel, message type and FHIRPath criteria; with
transforms; several destinations; disabled routes; reloaded when the file changes; validated."""

from __future__ import annotations

import os
import time

import fhir_records as fr
import pytest
import yaml

from engine.config.engine_config import RouteConfig, load_engine_config
from engine.routing.router import Router, Source
from engine.routing.rules import CompiledRoute
from foundation.yaml_files import ConfigError


def route(name="r", destinations=("a",), enabled=True, transform=None, **match):
    return RouteConfig(name, tuple(destinations), match, enabled, transform or {})


def test_fhirpath_criteria_select_resources():
    router = Router([route(resource_types=["Patient"], where="gender = 'female' and birthDate < @2000-01-01")], {"a"})
    assert router.destinations_for(fr.patient("1"), Source()) == ["a"]
    assert router.destinations_for({**fr.patient("2"), "gender": "male"}, Source()) == []


def test_channel_and_message_type_must_match_when_named():
    router = Router([route(channels=["mllp"], message_types=["ADT^A08"])], {"a"})
    assert router.destinations_for(fr.patient("1"), Source("mllp", "ADT^A08")) == ["a"]
    assert router.destinations_for(fr.patient("1"), Source("mllp", "ADT^A01")) == []
    assert router.destinations_for(fr.patient("1"), Source("files", "ADT^A08")) == []


def test_a_route_sends_to_several_destinations_and_disabled_routes_send_nothing():
    router = Router([route("on", ("a", "b")), route("off", ("c",), enabled=False)], {"a", "b", "c"})
    assert router.destinations_for(fr.patient("1"), Source()) == ["a", "b"]


def test_transform_drops_elements_and_adds_tags_and_identifiers():
    compiled = CompiledRoute.compile(route(transform={
        "drop": ["Patient.telecom", "birthDate"], "tags": [{"system": "urn:t", "code": "synced"}],
        "identifiers": [{"system": "urn:carebridge:source", "value": "clinic-1"}]}))
    sent = compiled.apply({**fr.patient("1"), "telecom": [{"system": "phone", "value": "0400"}]})
    assert "telecom" not in sent and "birthDate" not in sent
    assert sent["meta"]["tag"] == [{"system": "urn:t", "code": "synced"}]
    assert {"system": "urn:carebridge:source", "value": "clinic-1"} in sent["identifier"]


def test_invalid_fhirpath_is_refused_naming_the_route():
    with pytest.raises(ValueError, match="route r"):
        CompiledRoute.compile(route(where="name.where("))


def test_schema_refuses_an_unknown_transform(tmp_path, test_config):
    data = yaml.safe_load(test_config.read_text())
    data["routes"][0]["transform"] = {"rename": ["x"]}
    test_config.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="transform"):
        load_engine_config(test_config, {})


def test_edited_routes_take_effect_without_a_restart(tmp_path, test_config):
    config = load_engine_config(test_config, {})
    router = Router(config.routes, {"carepatron"}, config_path=test_config, environ={})
    assert router.destinations_for(fr.patient("1"), Source()) == ["carepatron"]
    data = yaml.safe_load(test_config.read_text())
    data["routes"][0]["enabled"] = False
    test_config.write_text(yaml.safe_dump(data))
    os.utime(test_config, (time.time() + 5, time.time() + 5))
    assert router.reload_if_changed(force=True)
    assert router.destinations_for(fr.patient("1"), Source()) == []


def test_a_bad_edit_keeps_the_previous_routes(tmp_path, test_config):
    config = load_engine_config(test_config, {})
    router = Router(config.routes, {"carepatron"}, config_path=test_config, environ={})
    test_config.write_text(test_config.read_text() + "\nroutes: [{name: 'Bad Name', destinations: []}]\n")
    assert not router.reload_if_changed(force=True)
    assert router.destinations_for(fr.patient("1"), Source()) == ["carepatron"]


def test_route_transform_applies_to_what_the_destination_receives(make_runtime, simulator, tmp_path):
    from delivery_config import engine_config
    from test_carepatron_kinds import settle

    routes = [{"name": "no-email", "match": {"resource_types": ["Patient"]}, "destinations": ["carepatron"],
               "transform": {"drop": ["Patient.telecom"]}}]
    runtime = make_runtime(engine_config(tmp_path, routes=routes))
    _, ids = fr.write(runtime, {**fr.patient("T-1"), "telecom": [{"system": "email", "value": "a@example.org"}]})
    settle(runtime, ids)
    assert "email" not in simulator.records("clients")[0]
