"""The engine configuration is checked at start and a bad key is named by file, line and path."""

from pathlib import Path

import pytest

from engine.config.engine_config import load_engine_config
from foundation.yaml_files import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_bundled_config_is_valid():
    config = load_engine_config(ROOT / "config" / "engine.yaml", environ={})
    assert [c.name for c in config.channels] == ["mllp", "inbox"]
    assert config.channel("inbox").options["directory"] == "./var/inbox"
    assert config.destination("carepatron").options["base_url"] == "https://api.carepatron.com/v1"


def test_environment_overrides_port_and_carepatron_settings():
    config = load_engine_config(ROOT / "config" / "engine.yaml", environ={
        "CAREBRIDGE_MLLP_PORT": "3575", "CAREPATRON_BASE_URL": "http://127.0.0.1:9/v1", "CAREPATRON_API_KEY": "k"})
    assert config.channel("mllp").options["port"] == 3575
    assert config.destination("carepatron").options["base_url"] == "http://127.0.0.1:9/v1"
    assert config.destination("carepatron").options["api_key"] == "k"


def test_bad_key_is_named_by_file_line_and_path(tmp_path):
    path = tmp_path / "engine.yaml"
    path.write_text("channels:\n  - name: mllp\n    type: mllp\n    port: not-a-port\n")
    with pytest.raises(ConfigError) as error:
        load_engine_config(path, environ={})
    assert f"{path}:4: channels.0.port:" in str(error.value)


def test_unknown_top_level_key_is_refused(tmp_path):
    path = tmp_path / "engine.yaml"
    path.write_text("channels: []\nchanels_typo: []\n")
    with pytest.raises(ConfigError) as error:
        load_engine_config(path, environ={})
    assert "chanels_typo" in str(error.value)


def test_route_to_unknown_destination_is_refused(tmp_path):
    path = tmp_path / "engine.yaml"
    path.write_text("destinations: []\nroutes:\n  - name: r\n    destinations: [nowhere]\n")
    with pytest.raises(ConfigError) as error:
        load_engine_config(path, environ={})
    assert f"{path}:4: routes.0.destinations.0: no destination named 'nowhere'" in str(error.value)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "engine.yaml"
    path.write_text("channels:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError) as error:
        load_engine_config(path, environ={})
    assert "not valid YAML" in str(error.value)


def test_bundled_inbox_follows_the_var_dir_unless_a_drop_dir_is_set():
    path = ROOT / "config" / "engine.yaml"
    inbox = load_engine_config(path, environ={"CAREBRIDGE_VAR_DIR": "/srv/carebridge"}).channel("inbox")
    assert inbox.options["directory"] == "/srv/carebridge/inbox"
    inbox = load_engine_config(path, environ={"CAREBRIDGE_VAR_DIR": "/srv/carebridge",
                                              "CAREBRIDGE_DROP_DIR": "/mnt/drop"}).channel("inbox")
    assert inbox.options["directory"] == "/mnt/drop"


def test_a_value_taken_from_the_environment_is_not_expanded_again():
    path = ROOT / "config" / "engine.yaml"
    config = load_engine_config(path, environ={"CAREPATRON_API_KEY": "k${CAREBRIDGE_VAR_DIR:-x}"})
    assert config.destination("carepatron").options["api_key"] == "k${CAREBRIDGE_VAR_DIR:-x}"


ROUTE_CONFIG = ("destinations:\n  - name: d\n    type: file\n    directory: out\n"
                "routes:\n  - name: r\n    destinations: [d]\n")


def test_a_misspelled_match_key_is_refused_instead_of_matching_everything(tmp_path):
    path = tmp_path / "engine.yaml"
    path.write_text(ROUTE_CONFIG + "    match:\n      resource_type: [Patient]\n")
    with pytest.raises(ConfigError) as error:
        load_engine_config(path, environ={})
    assert f"{path}:9: routes.0.match:" in str(error.value) and "resource_type" in str(error.value)


def test_an_unknown_route_key_is_refused(tmp_path):
    path = tmp_path / "engine.yaml"
    path.write_text(ROUTE_CONFIG + "    enable: false\n")
    with pytest.raises(ConfigError) as error:
        load_engine_config(path, environ={})
    assert "routes.0" in str(error.value) and "enable" in str(error.value)


def test_route_fhirpath_that_does_not_compile_is_named_by_line_and_path(tmp_path):
    path = tmp_path / "engine.yaml"
    path.write_text(ROUTE_CONFIG + "    match:\n      where:\n"
                    "        - \"gender = 'female'\"\n        - \"name.where(\"\n")
    with pytest.raises(ConfigError) as error:
        load_engine_config(path, environ={})
    assert f"{path}:11: routes.0.match.where.1: not valid FHIRPath" in str(error.value)
    assert "where.0" not in str(error.value)


def test_every_bundled_and_example_config_still_validates():
    for path in [ROOT / "config" / "engine.yaml", *sorted((ROOT / "config").glob("examples/*.yaml"))]:
        load_engine_config(path, environ={})
