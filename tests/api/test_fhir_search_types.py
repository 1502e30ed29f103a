"""The search parameters of the other supported types find what they name."""

from __future__ import annotations

from api.fhir_data import create, patient, search_ids


def _people(client) -> tuple[str, str]:
    subject = create(client, patient())["id"]
    doctor = create(client, {"resourceType": "Practitioner", "name": [{"family": "Who", "given": ["John"]}],
                             "telecom": [{"system": "email", "value": "who@example.org"}], "active": True})["id"]
    return subject, doctor


def test_patient_general_practitioner(client):
    _, doctor = _people(client)
    found = create(client, patient(mrn="2", generalPractitioner=[{"reference": f"Practitioner/{doctor}"}]))
    assert search_ids(client, f"Patient?general-practitioner=Practitioner/{doctor}") == {found["id"]}


def test_practitioner_name_email_and_active(client):
    _, doctor = _people(client)
    for query in ("name=who", "family=who", "given=joh", "email=who@example.org", "active=true"):
        assert search_ids(client, f"Practitioner?{query}") == {doctor}, query


def test_document_reference_parameters(client):
    subject, doctor = _people(client)
    earlier = create(client, {"resourceType": "DocumentReference", "status": "superseded",
                              "content": [{"attachment": {"contentType": "text/plain"}}]})["id"]
    document = create(client, {
        "resourceType": "DocumentReference", "status": "current", "date": "2024-03-05T10:00:00Z",
        "masterIdentifier": {"system": "urn:docs", "value": "D-1"},
        "type": {"coding": [{"system": "http://loinc.org", "code": "34133-9"}]},
        "category": [{"coding": [{"system": "urn:cat", "code": "clinical-note"}]}],
        "subject": {"reference": f"Patient/{subject}"}, "author": [{"reference": f"Practitioner/{doctor}"}],
        "relatesTo": [{"code": "replaces", "target": {"reference": f"DocumentReference/{earlier}"}}],
        "content": [{"attachment": {"contentType": "text/plain"}}]})["id"]
    for query in (f"patient={subject}", f"subject=Patient/{subject}", "type=http://loinc.org|34133-9",
                  "date=2024-03", "status=current", "identifier=urn:docs|D-1", "category=clinical-note",
                  f"author={doctor}", f"relatesto={earlier}"):
        assert search_ids(client, f"DocumentReference?{query}") == {document}, query


def test_invoice_parameters(client):
    subject, doctor = _people(client)
    issuer = create(client, {"resourceType": "Organization", "name": "Clinic"})["id"]
    invoice = create(client, {
        "resourceType": "Invoice", "status": "issued", "date": "2024-04-01",
        "identifier": [{"system": "urn:inv", "value": "INV-9"}], "subject": {"reference": f"Patient/{subject}"},
        "participant": [{"actor": {"reference": f"Practitioner/{doctor}"}}],
        "issuer": {"reference": f"Organization/{issuer}"}})["id"]
    for query in (f"patient={subject}", f"subject={subject}", "status=issued", "date=2024-04-01",
                  "identifier=INV-9", f"participant={doctor}", f"issuer=Organization/{issuer}"):
        assert search_ids(client, f"Invoice?{query}") == {invoice}, query


def test_encounter_practitioner_and_observation_code_category(client):
    subject, doctor = _people(client)
    encounter = create(client, {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                                "identifier": [{"value": "E-1"}], "subject": {"reference": f"Patient/{subject}"},
                                "participant": [{"individual": {"reference": f"Practitioner/{doctor}"}}]})["id"]
    observation = create(client, {
        "resourceType": "Observation", "status": "final", "effectiveDateTime": "2024-02-02T08:00:00Z",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "category": [{"coding": [{"code": "vital-signs"}]}], "subject": {"reference": f"Patient/{subject}"}})["id"]
    assert search_ids(client, f"Encounter?practitioner={doctor}&identifier=E-1&status=finished") == {encounter}
    assert search_ids(client, "Observation?code=http://loinc.org|29463-7&category=vital-signs&date=2024-02-02") \
        == {observation}


def test_practitioner_identifier(client):
    found = create(client, {"resourceType": "Practitioner", "identifier": [{"system": "urn:npi", "value": "N-1"}]})
    create(client, {"resourceType": "Practitioner", "identifier": [{"system": "urn:npi", "value": "N-2"}]})
    assert search_ids(client, "Practitioner?identifier=urn:npi|N-1") == {found["id"]}


def test_appointment_identifier(client):
    found = create(client, {"resourceType": "Appointment", "status": "booked", "identifier": [{"value": "A-1"}],
                            "participant": [{"status": "accepted", "type": [{"text": "x"}]}]})
    create(client, {"resourceType": "Appointment", "status": "booked", "identifier": [{"value": "A-2"}],
                    "participant": [{"status": "accepted", "type": [{"text": "x"}]}]})
    assert search_ids(client, "Appointment?identifier=A-1") == {found["id"]}


def test_encounter_patient(client):
    subject, _ = _people(client)
    other = create(client, patient(mrn="2"))["id"]
    found = create(client, {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                            "subject": {"reference": f"Patient/{subject}"}})["id"]
    create(client, {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                    "subject": {"reference": f"Patient/{other}"}})
    assert search_ids(client, f"Encounter?patient={subject}") == {found}


def test_observation_status(client):
    final = create(client, {"resourceType": "Observation", "status": "final", "code": {"text": "weight"}})["id"]
    create(client, {"resourceType": "Observation", "status": "preliminary", "code": {"text": "weight"}})
    assert search_ids(client, "Observation?status=final") == {final}
