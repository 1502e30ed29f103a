"""Each type of channel and destination takes its own keys; any other key is refused at start with
the file, line and path, instead of being ignored (``ack: after_store`` on an MLLP channel did nothing)."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from engine.config.engine_config import SECTIONS, keys_by_type, load_engine_config
from foundation.yaml_files import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "config" / "engine.schema.json").read_text())
#: Options the code reads that no configuration may set, each with the reason.
READ_BUT_NOT_KEYS = {
    "local_directory": "a fallback of file_settings.py; folder and sftp channels must name directory",
}


def refused(tmp_path, text: str) -> str:
    path = tmp_path / "engine.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_engine_config(path, environ={})
    return str(error.value)


def test_an_unknown_key_on_an_mllp_channel_is_refused_by_file_line_and_path(tmp_path):
    message = refused(tmp_path, "channels:\n  - name: mllp\n    type: mllp\n    port: 2575\n    ack: after_store\n")
    assert message.startswith(f"{tmp_path / 'engine.yaml'}:5: channels.0.ack: unknown key for an mllp channel")
    assert "max_connections" in message  # the channel's keys are listed


def test_a_key_of_another_channel_type_is_refused(tmp_path):
    message = refused(tmp_path, "channels:\n  - name: inbox\n    type: folder\n    directory: in\n    port: 2575\n")
    assert f"{tmp_path / 'engine.yaml'}:5: channels.0.port: unknown key for a folder channel" in message


def test_a_misspelled_key_names_the_key_meant(tmp_path):
    message = refused(tmp_path, "channels:\n  - name: mllp\n    type: mllp\n    max_conections: 5\n")
    assert ":4: channels.0.max_conections: unknown key for an mllp channel; did you mean max_connections?" in message


def test_an_unknown_destination_key_is_refused(tmp_path):
    message = refused(tmp_path, "destinations:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1/h\n"
                                "    secret: s\n    signing_secret: t\n")
    assert ":6: destinations.0.signing_secret: unknown key for a webhook destination" in message


def test_a_key_the_destination_type_ignores_is_refused(tmp_path):
    message = refused(tmp_path, "destinations:\n  - name: out\n    type: file\n    directory: out\n"
                                "    rate_limit_per_minute: 10\n")
    assert ":5: destinations.0.rate_limit_per_minute: unknown key for a file destination" in message


def test_an_unknown_key_holding_a_block_is_named_on_its_own_line(tmp_path):
    message = refused(tmp_path, "channels:\n  - name: mllp\n    type: mllp\n    # TLS\n    ssl:\n"
                                "      cert: a.pem\n      key: a.key\n")
    assert ":5: channels.0.ssl: unknown key for an mllp channel" in message


def test_unknown_keys_are_reported_with_the_other_problems(tmp_path):
    message = refused(tmp_path, "channels:\n  - name: mllp\n    type: mllp\n    port: not-a-port\n"
                                "    ack: after_store\n")
    assert ":5: channels.0.ack: unknown key" in message and ":4: channels.0.port:" in message


def test_a_channel_of_an_unknown_type_is_refused_for_its_type(tmp_path):
    message = refused(tmp_path, "channels:\n  - name: c\n    type: carrier-pigeon\n    ack: after_store\n")
    assert ":3: channels.0.type:" in message


def test_the_schema_alone_refuses_an_unknown_key_as_an_editor_shows_it():
    channel = {"name": "mllp", "type": "mllp", "ack": "after_store"}
    errors = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors({"channels": [channel]}))
    assert errors and all(list(e.absolute_path) == ["channels", 0] for e in errors)


def test_the_keys_the_engine_and_its_tests_use_are_accepted(tmp_path):
    config = {
        "channels": [
            {"name": "mllp", "type": "mllp", "port": 0, "enabled": True, "default_charset": "cp1252",
             "max_message_bytes": 1024, "idle_timeout_seconds": 5, "max_connections": 10,
             "tls": {"cert": "c.pem", "key": "k.pem", "client_ca": "ca.pem"}, "allowed_networks": ["10.0.0.0/8"],
             "allowed_senders": [{"application": "HIS", "facility": "NORTHSIDE"}]},
            {"name": "ward", "type": "http", "allowed_networks": ["10.0.0.0/8"], "allowed_senders": [{"facility": "W"}],
             "default_charset": "utf-8"},
            {"name": "inbox", "type": "folder", "directory": "in", "max_file_bytes": 10, "max_sidecar_bytes": 10,
             "max_expansion_ratio": 10, "unknown_patient": "wait", "filename_pattern": "{mrn}_{type}.{ext}",
             "patient_identifier_system": "urn:x", "csv_mapping": "patients", "fallback_charset": "cp1252",
             "timezone": "UTC", "watch": "poll", "poll_interval_seconds": 0.5, "settle_seconds": 0.3,
             "wait_retry_seconds": 0.5, "wait_max_seconds": 2, "orphan_sidecar_seconds": 5},
            {"name": "partner", "type": "sftp", "directory": "partner", "host": "127.0.0.1", "port": 2222,
             "username": "u", "password": None, "private_key_path": "id", "known_hosts_path": "kh",
             "trust_first_host_key": False, "remote_directory": "/out", "settle_seconds": 0.3},
        ],
        "destinations": [
            {"name": "carepatron", "type": "carepatron", "base_url": "http://127.0.0.1/v1", "api_key": "k",
             "timeout_seconds": 30, "rate_limit_per_minute": "60", "circuit_breaker": {"failure_threshold": 10},
             "retry": {"max_attempts": 3}, "field_maps": "maps", "max_file_bytes": 10, "enabled": True},
            {"name": "hie", "type": "fhir", "base_url": "http://127.0.0.1/fhir", "identifier_system": "urn:x",
             "headers": {"X-A": "b"}, "auth": {"token_url": "t", "client_id": "c", "client_secret": "s"}},
            {"name": "hook", "type": "webhook", "url": "http://127.0.0.1/h", "secret": "s", "headers": {"X-A": "b"}},
            {"name": "export", "type": "file", "directory": "out", "format": "ndjson", "retry": {"max_attempts": 2}},
        ],
    }
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    loaded = load_engine_config(path, environ={})
    assert loaded.channel("mllp").options["max_connections"] == 10


@pytest.mark.parametrize("section", SECTIONS)
def test_every_key_the_schema_describes_belongs_to_a_type(section):
    described = set(SCHEMA["properties"][section]["items"]["properties"])
    typed = set().union(*keys_by_type(SCHEMA, section).values())
    assert described - typed == set(), "a key no type takes: add it to its types' propertyNames"
    assert typed - described == set(), "a key a type takes without a description in properties"


def test_every_option_the_code_reads_is_a_key_of_some_type():
    taken = set().union(*(set().union(*keys_by_type(SCHEMA, s).values()) for s in SECTIONS))
    read = set()
    for folder in ("carebridge", "connectors", "engine"):
        for source in (ROOT / folder).rglob("*.py"):
            read |= set(re.findall(r"options(?:\.get\(|\[)\s*[\"']([a-z_]+)[\"']", source.read_text()))
    assert read, "the scan found no options: has the code changed how it reads them?"
    assert read - taken - set(READ_BUT_NOT_KEYS) == set()
