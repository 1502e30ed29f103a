"""Messages mapped by the shipped configs, written through the repository: what a later message
does to what an earlier one stored (merges, partial updates, one resource per identity)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.db.models import ResourceRecord
from engine.repository.resources import FhirRepository
from mappings.mapper import Mapper
from support.mapping_configs import AUTHORITIES, CONFIGS

HOSP = "urn:oid:1.2.36.146.595.217.0.1"


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return Mapper.from_directories(configs_dir=CONFIGS, authority_systems=AUTHORITIES)


def message(*segments: str) -> bytes:
    return ("\r".join(segments) + "\r").encode()


def adt(event: str, control_id: str, pid: str, *more: str) -> bytes:
    return message(f"MSH|^~\\&|EPIC|HOSP|CAREBRIDGE|CB|20240106100000||ADT^{event}|{control_id}|P|2.5.1", pid, *more)


def write(database, mapper: Mapper, raw: bytes):
    repository = FhirRepository(database)
    with database.write() as session:
        return repository.apply_mapping(session, mapper.map(raw).resources)


def stored(database, resource_type: str) -> list[dict]:
    repository = FhirRepository(database)
    with database.read() as session:
        ids = session.scalars(select(ResourceRecord.id).where(ResourceRecord.resource_type == resource_type,
                                                              ResourceRecord.deleted.is_(False)))
        return [repository.current(session, resource_type, i) for i in ids]


def identifiers(resource: dict) -> set[str]:
    return {f"{i['system']}|{i['value']}" for i in resource.get("identifier", [])}


def test_a_merged_patient_keeps_both_identifiers_and_later_messages_make_no_third_patient(database, mapper):
    write(database, mapper, adt("A28", "M1", "PID|1||12345^^^HOSP^MR||O'Brien^Mary||19800215|F"))
    write(database, mapper, adt("A28", "M2", "PID|1||67890^^^HOSP^MR||OBrien^Mary||19800215|F"))
    write(database, mapper, adt("A40", "M3", "PID|1||12345^^^HOSP^MR||O'Brien^Mary||19800215|F",
                                "MRG|67890^^^HOSP^MR"))
    write(database, mapper, adt("A31", "M4", "PID|1||67890^^^HOSP^MR||O'Brien^Mary Anne||19800215|F"))
    write(database, mapper, adt("A31", "M5", "PID|1||12345^^^HOSP^MR||O'Brien^Mary Anne||19800215|F"))

    patients = stored(database, "Patient")
    assert len(patients) == 2
    survivor = next(p for p in patients if p.get("active") is not False)
    assert identifiers(survivor) == {f"{HOSP}|12345", f"{HOSP}|67890"}
    assert survivor["name"][0]["given"] == ["Mary Anne"]


def test_one_doctor_named_twice_in_a_message_is_one_practitioner(database, mapper):
    attending = "1234^Smith^John^A^^Dr^MD^^HOSP"
    written = write(database, mapper, adt(
        "A01", "M1", "PID|1||12345^^^HOSP^MR||O'Brien^Mary",
        f"PV1|1|I|||||{attending}||||||||||{attending}||V0001^^^HOSP^VN"))

    practitioners = stored(database, "Practitioner")
    assert len(practitioners) == 1
    assert identifiers(practitioners[0]) == {f"{HOSP}|1234"}
    encounter = next(o.resource for o in written if o.resource_type == "Encounter")
    assert [p["individual"]["reference"] for p in encounter["participant"]] == [
        f"Practitioner/{practitioners[0]['id']}"] * 2
    assert [p["type"][0]["coding"][0]["code"] for p in encounter["participant"]] == ["ATND", "ADM"]


def siu(event: str, control_id: str, *segments: str) -> bytes:
    return message(f"MSH|^~\\&|CLINIC|HOSP|CAREBRIDGE|CB|20240110080000+1000||SIU^{event}|{control_id}|P|2.5.1",
                   "SCH|APT100^CLINIC|APT100F^HOSP", "PID|1||12345^^^HOSP^MR||O'Brien^Mary", *segments)


@pytest.mark.parametrize("event, status", [("S26", "noshow"), ("S15", "cancelled"), ("S16", "cancelled")])
def test_a_status_message_without_resources_keeps_the_booked_practitioner_and_location(database, mapper, event, status):
    write(database, mapper, siu("S12", "M1", "TQ1|1||||||20240115093000+1000|20240115100000+1000",
                                "AIL|1||ROOM4^^^CLINIC", "AIP|1||1234^Smith^John^^^Dr^^^HOSP|ATND^Attender^HL70443"))
    write(database, mapper, siu(event, "M2"))

    [appointment] = stored(database, "Appointment")
    assert appointment["status"] == status
    assert participants(appointment) == {"Patient": ["Patient"], "Practitioner": ["Practitioner"], "Location": ["ROOM4"]}


def participants(appointment: dict) -> dict[str, list[str]]:
    """Actor kind -> what each participant of that kind names (the display, or the identifier)."""
    found: dict[str, list[str]] = {}
    for participant in appointment["participant"]:
        actor = participant["actor"]
        found.setdefault(actor["type"], []).append(actor.get("display") or actor["reference"].split("/")[0])
    return found


def test_the_practitioners_a_message_sends_replace_the_booked_ones_and_the_room_stays(database, mapper):
    write(database, mapper, siu("S12", "M1", "AIL|1||ROOM4^^^CLINIC", "AIP|1||1234^Smith^John^^^Dr^^^HOSP|ATND"))
    write(database, mapper, siu("S14", "M2", "AIP|1||5678^Jones^Ann^^^Dr^^^HOSP|ATND"))

    [appointment] = stored(database, "Appointment")
    assert participants(appointment) == {"Patient": ["Patient"], "Practitioner": ["Practitioner"], "Location": ["ROOM4"]}
    doctor = next(p["actor"]["reference"] for p in appointment["participant"] if p["actor"]["type"] == "Practitioner")
    practitioner = next(p for p in stored(database, "Practitioner") if f"Practitioner/{p['id']}" == doctor)
    assert identifiers(practitioner) == {f"{HOSP}|5678"}


def test_a_rescheduled_room_replaces_the_booked_room(database, mapper):
    write(database, mapper, siu("S12", "M1", "AIL|1||ROOM4^^^CLINIC", "AIP|1||1234^Smith^John^^^Dr^^^HOSP|ATND"))
    write(database, mapper, siu("S13", "M2", "AIL|1||ROOM7^^^CLINIC"))

    [appointment] = stored(database, "Appointment")
    assert participants(appointment) == {"Patient": ["Patient"], "Practitioner": ["Practitioner"], "Location": ["ROOM7"]}


def visit(event: str, control_id: str, pv1_tail: str = "") -> bytes:
    return adt(event, control_id, "PID|1||12345^^^HOSP^MR||O'Brien^Mary", f"PV1|1|I|||||||||||||||||V0001^^^HOSP^VN{pv1_tail}")


def test_an_a08_keeps_the_status_of_a_stored_encounter(database, mapper):
    write(database, mapper, visit("A01", "M1"))
    write(database, mapper, visit("A08", "M2"))

    [encounter] = stored(database, "Encounter")
    assert encounter["status"] == "in-progress"


def test_an_a08_for_an_unknown_visit_gives_status_unknown(database, mapper):
    write(database, mapper, visit("A08", "M1"))

    [encounter] = stored(database, "Encounter")
    assert encounter["status"] == "unknown"


def test_an_explicitly_null_discharge_time_clears_the_end_and_keeps_the_start(database, mapper):
    admitted, discharged = "|" * 25 + "20240102123000+1000", "|20240105100000+1000"
    write(database, mapper, visit("A03", "M1", admitted + discharged))
    write(database, mapper, visit("A13", "M2", "|" * 26 + '""'))

    [encounter] = stored(database, "Encounter")
    assert encounter["period"] == {"start": "2024-01-02T12:30:00+10:00"}
    assert encounter["status"] == "in-progress"


def test_a_transfer_without_a_patient_class_keeps_the_stored_class(database, mapper):
    write(database, mapper, visit("A01", "M1"))
    write(database, mapper, adt("A02", "M2", "PID|1||12345^^^HOSP^MR||O'Brien^Mary",
                                "PV1|1||WARD3^301^A||||||||||||||||V0001^^^HOSP^VN"))

    [encounter] = stored(database, "Encounter")
    assert encounter["class"]["code"] == "IMP"


def test_a_modification_without_a_filler_status_keeps_the_stored_status(database, mapper):
    write(database, mapper, message("MSH|^~\\&|CLINIC|HOSP|CAREBRIDGE|CB|20240110080000+1000||SIU^S12|M1|P|2.5.1",
                                    "SCH|APT100^CLINIC|APT100F^HOSP" + "|" * 23 + "Pending",
                                    "PID|1||12345^^^HOSP^MR||O'Brien^Mary"))
    write(database, mapper, siu("S14", "M2"))

    [appointment] = stored(database, "Appointment")
    assert appointment["status"] == "pending"


def test_an_aip_with_action_code_d_removes_that_practitioner_and_keeps_the_other(database, mapper):
    write(database, mapper, siu("S12", "M1", "AIP|1||1234^Smith^John^^^Dr^^^HOSP|ATND",
                                "AIP|2||5678^Jones^Ann^^^Dr^^^HOSP|ATND"))
    write(database, mapper, siu("S14", "M2", "AIP|1|D|1234^Smith^John^^^Dr^^^HOSP|ATND"))

    [appointment] = stored(database, "Appointment")
    assert participants(appointment) == {"Patient": ["Patient"], "Practitioner": ["Practitioner"]}
    doctor = next(p["actor"]["reference"] for p in appointment["participant"] if p["actor"]["type"] == "Practitioner")
    practitioner = next(p for p in stored(database, "Practitioner") if f"Practitioner/{p['id']}" == doctor)
    assert identifiers(practitioner) == {f"{HOSP}|5678"}


def test_an_aip_with_action_code_x_keeps_its_practitioner_beside_one_deleted(database, mapper):
    write(database, mapper, siu("S12", "M1", "AIP|1||1234^Smith^John^^^Dr^^^HOSP|ATND",
                                "AIP|2||5678^Jones^Ann^^^Dr^^^HOSP|ATND"))
    write(database, mapper, siu("S14", "M2", "AIP|1|X|1234^Smith^John^^^Dr^^^HOSP|ATND",
                                "AIP|2|D|5678^Jones^Ann^^^Dr^^^HOSP|ATND"))

    [appointment] = stored(database, "Appointment")
    doctors = [p["actor"]["reference"] for p in appointment["participant"] if p["actor"]["type"] == "Practitioner"]
    names = {f"Practitioner/{p['id']}": identifiers(p) for p in stored(database, "Practitioner")}
    assert [names[d] for d in doctors] == [{f"{HOSP}|1234"}]


def test_an_ail_with_action_code_d_removes_the_room(database, mapper):
    write(database, mapper, siu("S12", "M1", "AIL|1||ROOM4^^^CLINIC", "AIP|1||1234^Smith^John^^^Dr^^^HOSP|ATND"))
    write(database, mapper, siu("S14", "M2", "AIL|1|D|ROOM4^^^CLINIC"))

    [appointment] = stored(database, "Appointment")
    assert participants(appointment) == {"Patient": ["Patient"], "Practitioner": ["Practitioner"]}
