"""Fixtures for the mapping tests: a Mapper over the shipped configs, as the pipeline builds it."""

from __future__ import annotations

import pytest

from mappings.mapper import Mapper
from support.mapping_configs import AUTHORITIES, CONFIGS


@pytest.fixture(scope="session")
def mapper() -> Mapper:
    return Mapper.from_directories(configs_dir=CONFIGS, overrides_dir=None, authority_systems=AUTHORITIES,
                                   default_system="urn:carebridge:authority:{authority}")
