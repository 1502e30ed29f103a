"""Test copies of the engine configuration with delivery changes: routes, extra destinations, a breaker."""

from __future__ import annotations

from pathlib import Path

import yaml

from support.config import write_test_config


def engine_config(tmp_path: Path, *, breaker: dict | None = None, extra_destinations: list | None = None,
                  routes: list | None = None, carepatron: dict | None = None, **retry) -> Path:
    path = write_test_config(tmp_path, **retry)
    data = yaml.safe_load(path.read_text())
    if breaker is not None:
        data["destinations"][0]["circuit_breaker"] = breaker
    data["destinations"][0].update(carepatron or {})
    data["destinations"] += extra_destinations or []
    if routes is not None:
        data["routes"] = routes
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
