"""_include, _revinclude, _sort, _total, _summary and _elements."""

from __future__ import annotations

from api.fhir_data import create, patient


def _observation(client, subject_id: str, code: str = "weight") -> dict:
    return create(client, {"resourceType": "Observation", "status": "final", "code": {"text": code},
                           "subject": {"reference": f"Patient/{subject_id}"}})


def test_include_adds_the_referenced_resources(client):
    subject = create(client, patient())
    observation = _observation(client, subject["id"])
    bundle = client.get("/fhir/Observation?_include=Observation:patient").get_json()
    modes = {(e["resource"]["resourceType"], e["resource"]["id"]): e["search"]["mode"] for e in bundle["entry"]}
    assert modes == {("Observation", observation["id"]): "match", ("Patient", subject["id"]): "include"}
    assert bundle["total"] == 1


def test_revinclude_adds_the_resources_that_refer_to_the_matches(client):
    subject = create(client, patient())
    observation = _observation(client, subject["id"])
    bundle = client.get(f"/fhir/Patient?_id={subject['id']}&_revinclude=Observation:subject").get_json()
    included = [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert included == [observation["id"]]


def test_sort_by_a_string_parameter_both_ways(client):
    for family in ("Brown", "Adams", "Clark"):
        create(client, patient(family=family, mrn=family))
    ascending = client.get("/fhir/Patient?_sort=family").get_json()
    descending = client.get("/fhir/Patient?_sort=-family").get_json()
    assert [e["resource"]["name"][0]["family"] for e in ascending["entry"]] == ["Adams", "Brown", "Clark"]
    assert [e["resource"]["name"][0]["family"] for e in descending["entry"]] == ["Clark", "Brown", "Adams"]


def test_sort_by_date_pages_in_order(client):
    for day in ("1990-01-01", "1970-01-01", "1980-01-01"):
        create(client, patient(birthDate=day, mrn=day))
    first = client.get("/fhir/Patient?_sort=birthdate&_count=2").get_json()
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(following.removeprefix("http://localhost")).get_json()
    days = [e["resource"]["birthDate"] for e in first["entry"] + second["entry"]]
    assert days == ["1970-01-01", "1980-01-01", "1990-01-01"]


def test_summary_count_answers_only_the_total(client):
    create(client, patient())
    create(client, patient(mrn="2"))
    bundle = client.get("/fhir/Patient?_summary=count").get_json()
    assert bundle["total"] == 2 and "entry" not in bundle


def test_total_none_leaves_the_total_out(client):
    create(client, patient())
    assert "total" not in client.get("/fhir/Patient?_total=none").get_json()


def test_summary_true_keeps_summary_elements_and_tags_the_subset(client):
    create(client, patient(maritalStatus={"text": "married"}, birthDate="1980-02-14"))
    resource = client.get("/fhir/Patient?_summary=true").get_json()["entry"][0]["resource"]
    assert "maritalStatus" not in resource and resource["birthDate"] == "1980-02-14"
    assert resource["meta"]["tag"][-1]["code"] == "SUBSETTED"


def test_elements_keeps_only_the_named_elements(client):
    create(client, patient(birthDate="1980-02-14", gender="female"))
    resource = client.get("/fhir/Patient?_elements=gender").get_json()["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "gender"}


def test_include_with_a_target_type_keeps_only_that_type(client):
    subject = create(client, patient())
    doctor = create(client, {"resourceType": "Practitioner", "name": [{"family": "Who"}]})
    create(client, {"resourceType": "Appointment", "status": "booked", "participant": [
        {"actor": {"reference": f"Patient/{subject['id']}"}, "status": "accepted"},
        {"actor": {"reference": f"Practitioner/{doctor['id']}"}, "status": "accepted"}]})
    bundle = client.get("/fhir/Appointment?_include=Appointment:actor:Practitioner").get_json()
    included = [e["resource"]["resourceType"] for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert included == ["Practitioner"]


def test_elements_on_read_keeps_only_the_named_elements(client):
    stored = create(client, patient(birthDate="1980-02-14", gender="female"))
    resource = client.get(f"/fhir/Patient/{stored['id']}?_elements=gender").get_json()
    assert set(resource) == {"resourceType", "id", "meta", "gender"}
    assert resource["meta"]["tag"][-1]["code"] == "SUBSETTED"


def test_summary_on_read_keeps_summary_elements(client):
    stored = create(client, patient(maritalStatus={"text": "married"}, birthDate="1980-02-14"))
    resource = client.get(f"/fhir/Patient/{stored['id']}?_summary=true").get_json()
    assert "maritalStatus" not in resource and resource["birthDate"] == "1980-02-14"


def test_revinclude_with_a_target_type_keeps_only_references_to_that_type(client):
    subject = create(client, patient())
    observation = _observation(client, subject["id"])
    query = f"/fhir/Patient?_id={subject['id']}&_revinclude=Observation:subject:"
    included = [e["resource"]["id"] for e in client.get(query + "Patient").get_json()["entry"]
                if e["search"]["mode"] == "include"]
    assert included == [observation["id"]]
    assert [e for e in client.get(query + "Group").get_json()["entry"] if e["search"]["mode"] == "include"] == []
