"""Test-wide constants and the test copy of the engine configuration."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
#: The key the tests' Carepatron simulator expects.
TEST_API_KEY = "test-key"


def write_test_config(tmp_path: Path, *, min_backoff: float = 0.05, max_backoff: float = 0.5,
                      max_attempts: int = 8, **changes) -> Path:
    """The bundled engine.yaml with quick retries, written where the test can point the engine at it."""
    data = yaml.safe_load((ROOT / "config" / "engine.yaml").read_text())
    for destination in data["destinations"]:
        destination["retry"] = {"max_attempts": max_attempts, "max_age_seconds": 3600,
                                "min_backoff_seconds": min_backoff, "max_backoff_seconds": max_backoff}
    data.update(changes)
    path = tmp_path / "engine.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
