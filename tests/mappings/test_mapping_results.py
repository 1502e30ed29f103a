"""ORU results: each OBX with a discrete value is an Observation whose identity (order,
sub-id, code) makes a corrected result update the one it corrects, and whose value[x]
follows OBX-2 as the guide's OBX[Observation] map says."""

from __future__ import annotations

from decimal import Decimal

import pytest

UCUM = "http://unitsofmeasure.org"


def oru(*obx: str, obr_3: str = "LAB55^HOSP") -> bytes:
    return ("MSH|^~\\&|LAB|HOSP|CB|CB|20240122120000+1000||ORU^R01^ORU_R01|1|P|2.5.1\r"
            "PID|1||12345^^^HOSP^MR||Doe^Jane\r"
            f"OBR|1|ORD1^CLINIC|{obr_3}|24331-1^Lipid panel^LN|||20240122080000+1000\r"
            + "".join(f"{line}\r" for line in obx)).encode()


def observations(mapper, raw: bytes) -> list:
    return [r for r in mapper.map(raw).resources if r.resource_type == "Observation"]


def test_a_corrected_result_has_the_identity_of_the_result_it_corrects(mapper):
    final, = observations(mapper, oru("OBX|1|NM|2093-3^Cholesterol^LN||5.2|mmol/L^^UCUM|||||F"))
    corrected, = observations(mapper, oru("OBX|1|NM|2093-3^Cholesterol^LN||4.9|mmol/L^^UCUM|||||C"))
    assert corrected.identity == final.identity != []
    assert corrected.resource["status"] == "corrected" and corrected.resource["valueQuantity"]["value"] == Decimal("4.9")


def test_a_numeric_result_keeps_the_digits_the_lab_sent(mapper):
    # FHIR decimals carry precision: 5.20 was measured to the hundredth, 5.2 only to the tenth.
    observation, = observations(mapper, oru("OBX|1|NM|2093-3^Cholesterol^LN||5.20|mmol/L^^UCUM|||||F"))
    assert str(observation.resource["valueQuantity"]["value"]) == "5.20"


def test_results_of_one_code_under_different_sub_ids_are_different_observations(mapper):
    first, second = observations(mapper, oru("OBX|1|ST|8251-1^Comment^LN|1|Slightly haemolysed||||||F",
                                             "OBX|2|ST|8251-1^Comment^LN|2|Repeat advised||||||F"))
    assert first.identity != second.identity


def test_results_of_different_orders_are_different_observations(mapper):
    one, = observations(mapper, oru("OBX|1|NM|2093-3^Cholesterol^LN||5.2", obr_3="LAB55^HOSP"))
    other, = observations(mapper, oru("OBX|1|NM|2093-3^Cholesterol^LN||5.2", obr_3="LAB56^HOSP"))
    assert one.identity != other.identity


def test_a_result_without_a_filler_order_number_has_no_identity(mapper):
    observation, = observations(mapper, oru("OBX|1|NM|2093-3^Cholesterol^LN||5.2", obr_3=""))
    assert observation.identity == [] and "identifier" not in observation.resource


@pytest.mark.parametrize("obx, element, value", [
    ("OBX|1|SN|2093-3^Chol^LN||<^5|mmol/L^^UCUM", "valueQuantity",
     {"comparator": "<", "value": 5, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}),
    ("OBX|1|SN|2093-3^Chol^LN||=^5.5|mmol/L", "valueQuantity", {"value": 5.5, "unit": "mmol/L"}),
    ("OBX|1|SN|2093-3^Chol^LN||^2^-^4|mmol/L^^UCUM", "valueRange",
     {"low": {"value": 2, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"},
      "high": {"value": 4, "unit": "mmol/L", "system": UCUM, "code": "mmol/L"}}),
    ("OBX|1|SN|5370-2^Titre^LN||^1^:^128", "valueRatio", {"numerator": {"value": 1}, "denominator": {"value": 128}}),
    ("OBX|1|SN|5370-2^Titre^LN||>^1^/^64", "valueRatio",
     {"numerator": {"comparator": ">", "value": 1}, "denominator": {"value": 64}}),
    ("OBX|1|SN|5370-2^Cells^LN||^2^+||", "valueString", "2 +"),
    ("OBX|1|ST|8251-1^Comment^LN||Slightly haemolysed", "valueString", "Slightly haemolysed"),
    ("OBX|1|DT|11778-8^Delivery date^LN||20240301", "valueDateTime", "2024-03-01"),
    ("OBX|1|TS|11778-8^Delivery date^LN||202403011030+1000", "valueDateTime", "2024-03-01T10:30:00+10:00"),
])
def test_obx_2_chooses_the_observation_value_element(mapper, obx, element, value):
    observation, = observations(mapper, oru(obx))
    values = {k: v for k, v in observation.resource.items() if k.startswith("value")}
    assert values == {element: value}


def test_a_short_string_result_does_not_make_its_order_a_document(mapper):
    resources = mapper.map(oru("OBX|1|ST|8251-1^Comment^LN||Slightly haemolysed")).resources
    assert [r.resource_type for r in resources] == ["Patient", "Observation"]
