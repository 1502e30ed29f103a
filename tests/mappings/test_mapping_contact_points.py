"""XTN to ContactPoint as the guide's XTN[ContactPoint] map says: a number sent in components
(XTN.5-8) gives the contactpoint-country/-area/-local/-extension extensions and a composed
value, which a destination reading only ``value`` (Carepatron's phoneNumber) still gets."""

from __future__ import annotations

from pathlib import Path

from mappings.field_maps import FieldMaps

COUNTRY = "http://hl7.org/fhir/StructureDefinition/contactpoint-country"
AREA = "http://hl7.org/fhir/StructureDefinition/contactpoint-area"
LOCAL = "http://hl7.org/fhir/StructureDefinition/contactpoint-local"
EXTENSION = "http://hl7.org/fhir/StructureDefinition/contactpoint-extension"
CAREPATRON_MAPS = Path(__file__).resolve().parents[2] / "mappings" / "carepatron"


def telecom(mapper, pid13: str) -> list[dict]:
    raw = ("MSH|^~\\&|EPIC|HOSP|CAREBRIDGE|CB|20240106100000||ADT^A28|M1|P|2.5.1\r"
           f"PID|1||12345^^^HOSP^MR||O'Brien^Mary||19800215|F|||||{pid13}\r").encode()
    [patient] = [r.resource for r in mapper.map(raw).resources if r.resource_type == "Patient"]
    return patient["telecom"]


def extensions(contact: dict) -> dict[str, str]:
    return {e["url"]: e["valueString"] for e in contact.get("extension", [])}


def test_a_number_in_components_gives_the_four_extensions_and_a_composed_value(mapper):
    [phone] = telecom(mapper, "^PRN^PH^^61^3^98765432^12")

    assert extensions(phone) == {COUNTRY: "61", AREA: "3", LOCAL: "98765432", EXTENSION: "12"}
    assert phone["value"] == "+61 3 98765432 X12"
    assert (phone["system"], phone["use"]) == ("phone", "home")


def test_an_area_code_and_local_number_alone_give_two_extensions(mapper):
    [phone] = telecom(mapper, "^WPN^PH^^^3^98765432")

    assert extensions(phone) == {AREA: "3", LOCAL: "98765432"}
    assert phone["value"] == "3 98765432"


def test_the_components_win_over_the_legacy_xtn1_as_the_guide_says(mapper):
    [phone] = telecom(mapper, "(03) 9876-5432^PRN^PH^^61^3^98765432")

    assert phone["value"] == "+61 3 98765432"


def test_an_unformatted_number_in_xtn12_stays_the_value_beside_the_component_extensions(mapper):
    [phone] = telecom(mapper, "^PRN^PH^^61^3^98765432^^^^^0398765432")

    assert phone["value"] == "0398765432"
    assert extensions(phone) == {COUNTRY: "61", AREA: "3", LOCAL: "98765432"}


def test_a_number_in_xtn1_only_has_no_extensions(mapper):
    [phone] = telecom(mapper, "0398765432^PRN^PH")

    assert "extension" not in phone
    assert phone["value"] == "0398765432"


def test_an_email_address_has_no_local_number_extension(mapper):
    [email] = telecom(mapper, "^NET^Internet^mary@example.com")

    assert (email["system"], email["value"]) == ("email", "mary@example.com")
    assert "extension" not in email


def test_carepatron_phone_number_is_the_composed_number_of_a_phone_sent_in_components(mapper):
    [phone] = telecom(mapper, "^PRN^CP^^61^4^12345678")
    patient = {"resourceType": "Patient", "id": "p1", "identifier": [{"system": "urn:example", "value": "1"}],
               "name": [{"family": "O'Brien", "given": ["Mary"]}], "telecom": [phone]}

    body, _ = FieldMaps.load(CAREPATRON_MAPS).for_resource(patient).render(patient, lambda reference: None)

    assert body["phoneNumber"] == "+61 4 12345678"
