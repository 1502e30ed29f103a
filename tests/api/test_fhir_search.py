"""Search parameters and their modifiers and prefixes, answered from the index tables."""

from __future__ import annotations

from datetime import date, timedelta
from urllib.parse import quote

from api.fhir_data import SYSTEM, create, patient, search_ids


def test_string_search_is_a_case_and_accent_insensitive_prefix(client):
    found = create(client, patient(family="Ångström"))
    create(client, patient(family="Berg", mrn="2"))
    assert search_ids(client, "Patient?family=angst") == {found["id"]}
    assert search_ids(client, "Patient?name=ANG") == {found["id"]}


def test_string_exact_matches_the_whole_value_as_written(client):
    found = create(client, patient(family="Smith"))
    create(client, patient(family="smith", mrn="2"))
    create(client, patient(family="Smithson", mrn="3"))
    assert search_ids(client, "Patient?family:exact=Smith") == {found["id"]}


def test_string_contains_matches_inside_the_value(client):
    found = create(client, patient(family="Greenwood"))
    create(client, patient(family="Brown", mrn="2"))
    assert search_ids(client, "Patient?family:contains=WOOD") == {found["id"]}


def test_a_comma_is_or_and_a_repeated_parameter_is_and(client):
    ada = create(client, patient(family="Lovelace", given="Ada"))
    grace = create(client, patient(family="Hopper", given="Grace", mrn="2"))
    create(client, patient(family="Lovelace", given="Byron", mrn="3"))
    assert search_ids(client, "Patient?given=ada,grace") == {ada["id"], grace["id"]}
    assert search_ids(client, "Patient?family=lovelace&given=ada") == {ada["id"]}


def test_token_forms_system_code_code_bar_code_and_system_bar(client):
    with_system = create(client, patient(mrn="A1"))
    without_system = create(client, {"resourceType": "Patient", "identifier": [{"value": "A1"}]})
    other_system = create(client, {"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "B2"}]})
    assert search_ids(client, f"Patient?identifier={SYSTEM}|A1") == {with_system["id"]}
    assert search_ids(client, "Patient?identifier=A1") == {with_system["id"], without_system["id"]}
    assert search_ids(client, "Patient?identifier=|A1") == {without_system["id"]}
    assert search_ids(client, "Patient?identifier=urn:x|") == {other_system["id"]}


def test_token_not_excludes_matches(client):
    female = create(client, patient(gender="female"))
    male = create(client, patient(gender="male", mrn="2"))
    assert search_ids(client, "Patient?gender:not=female") == {male["id"]}
    assert female["id"] not in search_ids(client, "Patient?gender:not=female")


def test_gender_active_email_phone_and_telecom(client):
    found = create(client, patient(gender="female", active=True, telecom=[
        {"system": "email", "value": "ada@example.org"}, {"system": "phone", "value": "555-0100"}]))
    create(client, patient(gender="male", active=False, mrn="2"))
    for query in ("gender=female", "active=true", "email=ada@example.org", "phone=555-0100",
                  "telecom=email|ada@example.org"):
        assert search_ids(client, f"Patient?{query}") == {found["id"]}, query


def test_address_city_and_postalcode(client):
    found = create(client, patient(address=[{"line": ["1 Harbour St"], "city": "Springfield", "postalCode": "12345"}]))
    create(client, patient(address=[{"city": "Shelbyville", "postalCode": "99999"}], mrn="2"))
    assert search_ids(client, "Patient?address-city=spring") == {found["id"]}
    assert search_ids(client, "Patient?address-postalcode=123") == {found["id"]}
    assert search_ids(client, "Patient?address=1 harb") == {found["id"]}
    assert search_ids(client, "Patient?address=springf") == {found["id"]}


def test_missing_true_and_false(client):
    with_birth = create(client, patient(birthDate="1980-02-14"))
    without = create(client, patient(mrn="2"))
    assert search_ids(client, "Patient?birthdate:missing=true") == {without["id"]}
    assert search_ids(client, "Patient?birthdate:missing=false") == {with_birth["id"]}


def test_date_prefixes_compare_implied_ranges(client):
    ids = {day: create(client, patient(birthDate=day, mrn=day))["id"] for day in ("1980-02-14", "1980-03-01", "1981")}
    assert search_ids(client, "Patient?birthdate=1980-02") == {ids["1980-02-14"]}
    assert search_ids(client, "Patient?birthdate=1980") == {ids["1980-02-14"], ids["1980-03-01"]}
    assert search_ids(client, "Patient?birthdate=ne1980-02-14") == {ids["1980-03-01"], ids["1981"]}
    assert search_ids(client, "Patient?birthdate=gt1980-02-14") == {ids["1980-03-01"], ids["1981"]}
    assert search_ids(client, "Patient?birthdate=lt1980-03-01") == {ids["1980-02-14"]}
    assert search_ids(client, "Patient?birthdate=ge1980-03-01") == {ids["1980-03-01"], ids["1981"]}
    assert search_ids(client, "Patient?birthdate=le1980-03-01") == {ids["1980-02-14"], ids["1980-03-01"]}
    assert search_ids(client, "Patient?birthdate=sa1980-12-31") == {ids["1981"]}
    assert search_ids(client, "Patient?birthdate=eb1980-03-01") == {ids["1980-02-14"]}


def test_date_ap_matches_values_near_the_given_one(client):
    today = date.today()
    near = create(client, patient(birthDate=(today - timedelta(days=3)).isoformat()))
    create(client, patient(birthDate=(today - timedelta(days=400)).isoformat(), mrn="2"))
    assert search_ids(client, f"Patient?birthdate=ap{(today - timedelta(days=2)).isoformat()}") == {near["id"]}


def test_date_against_a_period(client):
    subject = create(client, patient())
    encounter = create(client, {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                                "subject": {"reference": f"Patient/{subject['id']}"},
                                "period": {"start": "2024-05-01T09:00:00Z", "end": "2024-05-01T10:00:00Z"}})
    assert search_ids(client, "Encounter?date=2024-05-01") == {encounter["id"]}
    assert search_ids(client, "Encounter?date=ge2024-05-02") == set()


def test_references_as_type_id_bare_id_and_absolute_url(client):
    subject = create(client, patient())
    observation = create(client, {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
                                  "subject": {"reference": f"Patient/{subject['id']}"}})
    pid = subject["id"]
    for query in (f"patient=Patient/{pid}", f"patient={pid}", f"subject=http://localhost/fhir/Patient/{pid}",
                  f"subject:Patient={pid}"):
        assert search_ids(client, f"Observation?{query}") == {observation["id"]}, query


def test_appointment_patient_practitioner_actor_and_date(client):
    subject = create(client, patient())
    doctor = create(client, {"resourceType": "Practitioner", "name": [{"family": "Who"}]})
    appointment = create(client, {
        "resourceType": "Appointment", "status": "booked", "start": "2024-06-01T09:00:00Z",
        "end": "2024-06-01T09:30:00Z", "appointmentType": {"coding": [{"system": "urn:t", "code": "FOLLOWUP"}]},
        "participant": [{"actor": {"reference": f"Patient/{subject['id']}"}, "status": "accepted"},
                        {"actor": {"reference": f"Practitioner/{doctor['id']}"}, "status": "accepted"}]})
    for query in (f"patient={subject['id']}", f"practitioner={doctor['id']}", f"actor=Practitioner/{doctor['id']}",
                  "date=2024-06-01", "status=booked", "appointment-type=urn:t|FOLLOWUP"):
        assert search_ids(client, f"Appointment?{query}") == {appointment["id"]}, query
    assert search_ids(client, f"Appointment?patient={doctor['id']}") == set()


def test_id_and_last_updated(client):
    found = create(client, patient())
    assert search_ids(client, f"Patient?_id={found['id']}") == {found["id"]}
    assert search_ids(client, "Patient?_lastUpdated=gt2000-01-01") == {found["id"]}
    assert search_ids(client, "Patient?_lastUpdated=lt2000-01-01") == set()


def test_deleted_resources_are_not_found(client):
    found = create(client, patient())
    client.delete(f"/fhir/Patient/{found['id']}")
    assert search_ids(client, "Patient?family=testperson") == set()


def test_post_search_takes_the_parameters_as_a_form(client):
    found = create(client, patient(family="Formsend"))
    bundle = client.post("/fhir/Patient/_search", data={"family": "formsend"}).get_json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [found["id"]]


def test_unknown_parameters_are_ignored_and_reported(client):
    found = create(client, patient())
    bundle = client.get("/fhir/Patient?shoe-size=9").get_json()
    outcome = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "shoe-size" in outcome[0]["issue"][0]["diagnostics"]
    assert found["id"] in {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"}


def test_unknown_parameters_under_strict_handling_are_400(client):
    response = client.get("/fhir/Patient?shoe-size=9", headers={"Prefer": "handling=strict"})
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["details"]["coding"][0]["code"] == "unknown-search-parameter"


def test_an_unsupported_modifier_is_400(client):
    assert client.get("/fhir/Patient?family:below=x").status_code == 400


def test_a_malformed_date_is_400_without_echoing_the_value(client):
    response = client.get("/fhir/Patient?birthdate=sometime-secret")
    assert response.status_code == 400
    assert "secret" not in response.get_data(as_text=True)


def _diagnostics(response) -> str:
    return response.get_json()["issue"][0]["diagnostics"]


def test_a_date_the_calendar_lacks_is_400_naming_the_parameter(client):
    for value in ("2024-13", "2024-02-30", "2024-01-01T25:00", "ge2023-04-31", "2024-01-01T10:00+25:00"):
        response = client.get(f"/fhir/Patient?birthdate={value.replace('+', '%2B')}")
        assert response.status_code == 400, value
        assert response.get_json()["resourceType"] == "OperationOutcome"
        assert "birthdate" in _diagnostics(response), value


def test_a_last_updated_the_calendar_lacks_is_400_naming_the_parameter(client):
    response = client.get("/fhir/Patient?_lastUpdated=gt2024-02-30")
    assert response.status_code == 400
    assert "_lastUpdated" in _diagnostics(response)


def test_an_if_none_exist_date_the_calendar_lacks_is_400_naming_the_parameter(client):
    response = client.post("/fhir/Patient", json=patient(), headers={"If-None-Exist": "birthdate=2024-13"})
    assert response.status_code == 400
    assert "birthdate" in _diagnostics(response)


def test_dates_at_the_ends_of_the_calendar_are_searchable(client):
    assert client.get("/fhir/Patient?birthdate=lt9999-12").status_code == 200
    assert client.get("/fhir/Patient?birthdate=gt0001-01-01T00:00%2B05:00").status_code == 200


def test_comparators_are_read_as_the_prefixes_they_stand_for(client):
    ids = {day: create(client, patient(birthDate=day, mrn=day))["id"] for day in ("1980-02-14", "1990-06-01")}
    for comparator, prefix in ((">", "gt"), (">=", "ge"), ("<", "lt"), ("<=", "le")):
        value = "1980-02-14"
        assert search_ids(client, f"Patient?birthdate={quote(comparator)}{value}") == \
            search_ids(client, f"Patient?birthdate={prefix}{value}"), comparator
    assert search_ids(client, f"Patient?birthdate={quote('>')}1980-02-14") == {ids["1990-06-01"]}


def test_missing_on_a_string_a_token_and_a_reference(client):
    doctor = create(client, {"resourceType": "Practitioner", "name": [{"family": "Who"}]})["id"]
    full = create(client, patient(gender="female", generalPractitioner=[{"reference": f"Practitioner/{doctor}"}],
                                  address=[{"city": "Springfield"}]))["id"]
    bare = create(client, {"resourceType": "Patient", "name": [{"family": "Bare"}]})["id"]
    for name in ("address-city", "gender", "general-practitioner"):
        assert search_ids(client, f"Patient?{name}:missing=true") == {bare}, name
        assert search_ids(client, f"Patient?{name}:missing=false") == {full}, name


def test_gt_and_sa_differ_on_a_range_that_overlaps_the_value(client):
    # A birth year covers all of 1980, so it both starts before and ends after mid-June 1980.
    year = create(client, patient(birthDate="1980", mrn="year"))["id"]
    later = create(client, patient(birthDate="1981-01-01", mrn="later"))["id"]
    assert search_ids(client, "Patient?birthdate=gt1980-06-15") == {year, later}
    assert search_ids(client, "Patient?birthdate=sa1980-06-15") == {later}


def test_lt_and_eb_differ_on_a_range_that_overlaps_the_value(client):
    year = create(client, patient(birthDate="1980", mrn="year"))["id"]
    earlier = create(client, patient(birthDate="1979-12-31", mrn="earlier"))["id"]
    assert search_ids(client, "Patient?birthdate=lt1980-06-15") == {year, earlier}
    assert search_ids(client, "Patient?birthdate=eb1980-06-15") == {earlier}


def test_gt_sa_lt_and_eb_on_a_period(client):
    subject = create(client, patient())["id"]
    encounter = create(client, {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                                "subject": {"reference": f"Patient/{subject}"},
                                "period": {"start": "2024-05-01T09:00:00Z", "end": "2024-05-03T17:00:00Z"}})["id"]
    assert search_ids(client, "Encounter?date=gt2024-05-02") == {encounter}
    assert search_ids(client, "Encounter?date=sa2024-05-02") == set()
    assert search_ids(client, "Encounter?date=sa2024-04-30") == {encounter}
    assert search_ids(client, "Encounter?date=lt2024-05-02") == {encounter}
    assert search_ids(client, "Encounter?date=eb2024-05-02") == set()
    assert search_ids(client, "Encounter?date=eb2024-05-04") == {encounter}
