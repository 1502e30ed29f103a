"""Fixtures for the mapping tests: a Mapper over the shipped configs, as the pipeline builds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mappings.mapper import Mapper

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "mappings" / "configs"
#: The authority table the tests run with (the brief's example).
AUTHORITIES = {"HOSP": "urn:oid:1.2.36.146.595.217.0.1"}


@pytest.fixture(scope="session")
def mapper() -> Mapper:
    return Mapper.from_directories(configs_dir=CONFIGS, overrides_dir=None, authority_systems=AUTHORITIES,
                                   default_system="urn:carebridge:authority:{authority}")
