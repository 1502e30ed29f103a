"""The house holds: layers import only downward, no import circle anywhere (not even behind a
local or ``TYPE_CHECKING`` import), and no product folder grows past about 15 modules."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.import_rules import LAYERS, crowded_folders, violations

ROOT = Path(__file__).resolve().parent.parent
#: The most modules a product folder holds before it is two stations.
MOST_MODULES_PER_FOLDER = 15


@pytest.fixture
def tree(tmp_path):
    """A copy of the product's Python packages, to break on purpose."""
    for package in LAYERS:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return tmp_path


def _append(path: Path, code: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n" + code + "\n", encoding="utf-8")


def test_the_product_breaks_no_import_rule():
    assert violations(ROOT) == []


def test_no_product_folder_holds_more_than_fifteen_modules():
    assert crowded_folders(ROOT, MOST_MODULES_PER_FOLDER) == []


def test_engine_has_a_folder_per_station_and_no_loose_modules():
    loose = sorted(p.name for p in (ROOT / "engine").glob("*.py") if p.name != "__init__.py")
    stations = {p.name for p in (ROOT / "engine").iterdir() if (p / "__init__.py").is_file()}
    assert loose == []
    assert {"config", "db", "store", "pipeline", "repository", "fhir_api", "routing", "delivery",
            "operations"} <= stations


def test_mappings_importing_the_engine_is_a_back_edge(tree):
    _append(tree / "mappings" / "errors.py", "from engine.db.models import Message")
    assert any("mappings.errors" in v and "mappings may not import engine" in v for v in violations(tree))


def test_the_engine_importing_a_connector_is_a_back_edge_even_inside_a_function(tree):
    _append(tree / "engine" / "delivery" / "service.py",
            "def _late():\n    from connectors.outbound.carepatron import CarepatronDestination")
    assert any("engine may not import connectors" in v for v in violations(tree))


def test_the_bottom_layer_importing_the_product_is_a_back_edge(tree):
    _append(tree / "foundation" / "decimal_json.py", "import mappings.errors")
    assert any("foundation may not import mappings" in v for v in violations(tree))


def test_a_circle_hidden_behind_type_checking_is_found(tree):
    _append(tree / "engine" / "db" / "models.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from engine.store.message_store import MessageStore")
    found = violations(tree)
    assert any(v.startswith("modules import each other") and "engine.db.models" in v
               and "engine.store.message_store" in v for v in found)
    assert any(v.startswith("stations import each other") and "engine.db" in v and "engine.store" in v for v in found)


def test_a_relative_import_is_read_like_an_absolute_one(tree):
    _append(tree / "mappings" / "v2" / "batch.py", "from ...engine.db import models")
    assert any("mappings.v2.batch" in v and "mappings may not import engine" in v for v in violations(tree))


def test_a_crowded_folder_is_named(tree):
    for n in range(MOST_MODULES_PER_FOLDER + 1):
        (tree / "routes" / f"extra_{n}.py").write_text('"""An extra module."""\n')
    assert any(v.startswith("routes holds") for v in crowded_folders(tree, MOST_MODULES_PER_FOLDER))
