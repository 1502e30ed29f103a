"""PID-7 with a time of day: the guide's patient-birthTime extension on birthDate
(``_birthDate`` in FHIR JSON); a date alone gives no extension."""

from __future__ import annotations

BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"


def patient(mapper, pid_7: str) -> tuple[dict, list[str]]:
    raw = ("MSH|^~\\&|PAS|HOSP|CB|CB|20240101||ADT^A28|1|P|2.5\r"
           f"PID|1||55^^^HOSP^MR||Doe^Jane||{pid_7}|F\r").encode()
    mapped = mapper.map(raw).resources[0]
    return mapped.resource, mapped.clear


def test_a_birth_time_becomes_the_birth_time_extension_on_birth_date(mapper):
    resource, _ = patient(mapper, "198002150830+1000")
    assert resource["birthDate"] == "1980-02-15"
    assert resource["_birthDate"] == {"extension": [{"url": BIRTH_TIME, "valueDateTime": "1980-02-15T08:30:00+10:00"}]}


def test_a_birth_date_without_a_time_has_no_birth_time_extension(mapper):
    resource, _ = patient(mapper, "19800215")
    assert resource["birthDate"] == "1980-02-15" and "_birthDate" not in resource


def test_an_explicitly_nulled_birth_date_clears_its_birth_time_too(mapper):
    _, clear = patient(mapper, '""')
    assert clear == ["_birthDate", "birthDate"]
