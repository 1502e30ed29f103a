"""Where the shipped mapping configs are, and the authority table the mapping tests use."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "mappings" / "configs"
#: The authority table the tests run with (the bundled engine.yaml's).
AUTHORITIES = {"HOSP": "urn:oid:1.2.36.146.595.217.0.1"}
