"""The root conftest's helpers (``ROOT``, ``TEST_API_KEY``, ``write_test_config``), loaded by path.

``from conftest import ...`` gets whichever conftest pytest imported last under that name
(``tests/mappings`` has one too), so it breaks when several test folders run together.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "carebridge_root_conftest"


def _load():
    if _NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).resolve().parents[1] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[_NAME]


ROOT = _load().ROOT
TEST_API_KEY = _load().TEST_API_KEY
write_test_config = _load().write_test_config
