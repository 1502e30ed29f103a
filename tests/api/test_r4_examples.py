"""The official R4 examples of the supported types load by PUT and read back equal apart from meta."""

from __future__ import annotations

import pytest

from api.r4_examples import load_examples
from engine.capabilities import SUPPORTED_TYPES


@pytest.fixture(scope="session")
def examples() -> list[dict]:
    return load_examples(SUPPORTED_TYPES)


def _without_meta(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k != "meta"}


def test_every_supported_type_has_examples(examples):
    assert {r["resourceType"] for r in examples} == set(SUPPORTED_TYPES)


def test_examples_load_by_put_and_read_back_equal_apart_from_meta(client, examples):
    failures = []
    for example in examples:
        path = f"/fhir/{example['resourceType']}/{example['id']}"
        put = client.put(path, json=example)
        if put.status_code not in (200, 201):
            failures.append((path, put.status_code, put.get_json()["issue"][0].get("expression")))
            continue
        read = client.get(path).get_json()
        if _without_meta(read) != _without_meta(example):
            failures.append((path, "differs"))
    assert failures == []
