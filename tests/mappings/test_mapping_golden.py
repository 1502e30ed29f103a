"""Golden tests: each ``golden/<name>.hl7`` maps to the resources in ``golden/<name>.json``,
compared field by field. The JSON files were written from the V2-to-FHIR tables, not
captured from the mapper's output."""

from __future__ import annotations

from pathlib import Path

import pytest
from golden_compare import differences, normalise

from foundation import decimal_json

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.hl7"))


@pytest.mark.parametrize("case", CASES)
def test_message_maps_to_the_golden_resources(mapper, case):
    raw = (GOLDEN / f"{case}.hl7").read_bytes()
    expected = decimal_json.loads((GOLDEN / f"{case}.json").read_text())
    channel = expected.pop("channel", None)
    problems = differences(normalise(mapper.map(raw, channel=channel)), expected)
    assert not problems, "\n".join(problems)


def test_every_golden_input_has_its_expected_output():
    assert CASES and all((GOLDEN / f"{c}.json").exists() for c in CASES)
