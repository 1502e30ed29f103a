"""The FHIR repository keeps versions, recognises known patients and merges HL7 updates."""

import json

from engine.db.models import ResourceVersion
from engine.repository.resources import FhirRepository
from mappings.result import MappedResource

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def patient(mrn="100001", family="Testperson", **extra):
    return {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": mrn}],
            "name": [{"family": family, "given": ["Ada"]}], **extra}


def mapped(resource, **kwargs):
    return MappedResource(resource=resource, identity=[("identifier", f"{SYSTEM}|{resource['identifier'][0]['value']}")],
                          **kwargs)


def test_known_identifier_updates_instead_of_duplicating(database):
    repository = FhirRepository(database)
    with database.write() as session:
        first = repository.apply_mapping(session, [mapped(patient())])[0]
    with database.write() as session:
        second = repository.apply_mapping(session, [mapped(patient(family="Renamed"))])[0]
    assert second.id == first.id and second.version_id == 2
    with database.read() as session:
        assert repository.ids_with_token(session, "Patient", "identifier", f"{SYSTEM}|100001") == [first.id]
        assert repository.current(session, "Patient", first.id)["name"][0]["family"] == "Renamed"
        assert [v.version_id for v in repository.history(session, "Patient", first.id)] == [2, 1]


def test_identical_resend_makes_no_new_version(database):
    repository = FhirRepository(database)
    with database.write() as session:
        first = repository.apply_mapping(session, [mapped(patient())])[0]
    with database.write() as session:
        again = repository.apply_mapping(session, [mapped(patient())])[0]
    assert again.changed is False and again.version_id == 1 == first.version_id


def test_update_keeps_elements_the_message_omits_and_removes_those_it_nulls(database):
    repository = FhirRepository(database)
    with database.write() as session:
        first = repository.apply_mapping(session, [mapped(patient(birthDate="1980-02-14", gender="female"))])[0]
    with database.write() as session:
        repository.apply_mapping(session, [mapped(patient(family="Other"), clear=["gender"])])
    with database.read() as session:
        stored = repository.current(session, "Patient", first.id)
    assert stored["birthDate"] == "1980-02-14"
    assert "gender" not in stored
    assert stored["name"][0]["family"] == "Other"


def test_placeholders_become_references_to_stored_ids(database):
    repository = FhirRepository(database)
    subject = mapped(patient())
    encounter = MappedResource({"resourceType": "Encounter", "status": "in-progress",
                                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                                "subject": {"reference": subject.full_url}})
    with database.write() as session:
        saved_patient, saved_encounter = repository.apply_mapping(session, [subject, encounter])
    assert saved_encounter.resource["subject"]["reference"] == f"Patient/{saved_patient.id}"


def test_identity_of_a_merged_patient_resolves_to_the_survivor(database):
    repository = FhirRepository(database)
    with database.write() as session:
        survivor = repository.save(session, patient(mrn="200"))
        repository.save(session, patient(mrn="100", active=False,
                                         link=[{"type": "replaced-by", "other": {"reference": f"Patient/{survivor.id}"}}]))
    with database.read() as session:
        assert repository.resolve_identity(session, "Patient", [("identifier", f"{SYSTEM}|100")]) == survivor.id


def test_history_keeps_every_version_with_meta(database):
    repository = FhirRepository(database)
    with database.write() as session:
        created = repository.save(session, patient())
        repository.save(session, patient(family="Second"), resource_id=created.id)
    with database.read() as session:
        version = session.get(ResourceVersion, ("Patient", created.id, 1))
        assert json.loads(version.content)["meta"]["versionId"] == "1"
        assert version.method == "create"
