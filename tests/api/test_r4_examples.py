"""The official R4 examples of the supported types load by PUT and read back equal apart from meta,
decimals digit for digit."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from api.r4_examples import load_examples
from engine.fhir_api.capabilities import SUPPORTED_TYPES
from foundation import decimal_json


@pytest.fixture(scope="session")
def examples() -> list[dict]:
    return load_examples(SUPPORTED_TYPES)


def _text_without_meta(resource: dict) -> str:
    """Decimals as their digits: Decimal("1.0") == Decimal("1.00"), so comparing values would hide lost precision."""
    return json.dumps({k: v for k, v in resource.items() if k != "meta"}, sort_keys=True, default=str)


def test_every_supported_type_has_examples(examples):
    assert {r["resourceType"] for r in examples} == set(SUPPORTED_TYPES)


def test_examples_load_by_put_and_read_back_equal_apart_from_meta(client, examples):
    failures = []
    for example in examples:
        path = f"/fhir/{example['resourceType']}/{example['id']}"
        put = client.put(path, data=decimal_json.dumps(example), content_type="application/fhir+json")
        if put.status_code not in (200, 201):
            failures.append((path, put.status_code, put.get_json()["issue"][0].get("expression")))
            continue
        read = json.loads(client.get(path).get_data(), parse_float=Decimal)
        if _text_without_meta(read) != _text_without_meta(example):
            failures.append((path, "differs"))
    assert failures == []
