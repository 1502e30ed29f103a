"""The FHIR API with authentication on: tokens from the token endpoint, scopes on every
interaction (reads, searches, includes, history, batches and transactions), the query form,
and the audit trail each access leaves."""

from __future__ import annotations

import json

from support.access import bearer, token_for

PATIENT = {"resourceType": "Patient", "identifier": [{"system": "urn:test:mrn", "value": "MRN-ACCESS-7781"}],
           "name": [{"family": "Quillfeather", "given": ["Ada"]}], "birthDate": "1961-07-14"}


def _observation(patient_id: str, category: str) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": category}]}],
            "code": {"text": "weight"}, "subject": {"reference": f"Patient/{patient_id}"}}


def _seed(runtime) -> tuple[str, str]:
    everything = bearer(token_for(runtime, "system/*.cruds"))
    patient = runtime.client.post("/fhir/Patient", json=PATIENT, headers=everything).get_json()["id"]
    vital = runtime.client.post("/fhir/Observation", json=_observation(patient, "vital-signs"),
                                headers=everything).get_json()["id"]
    runtime.client.post("/fhir/Observation", json=_observation(patient, "laboratory"), headers=everything)
    return patient, vital


def test_the_token_endpoint_takes_basic_and_post_secrets_and_refuses_bad_ones(secured):
    registered = secured.access.clients.add("ehr", "system/Patient.rs")
    posted = secured.client.post("/auth/token", data={"grant_type": "client_credentials",
                                                      "client_id": registered["client_id"],
                                                      "client_secret": registered["client_secret"],
                                                      "scope": "system/Patient.r"})
    assert posted.status_code == 200 and posted.headers["Cache-Control"] == "no-store"
    assert posted.get_json()["scope"] == "system/Patient.r" and posted.get_json()["expires_in"] == 300
    wrong = secured.client.post("/auth/token", data={"grant_type": "client_credentials",
                                                     "client_id": registered["client_id"], "client_secret": "x"})
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_client"
    wider = secured.client.post("/auth/token", data={"grant_type": "client_credentials",
                                                     "client_id": registered["client_id"],
                                                     "client_secret": registered["client_secret"],
                                                     "scope": "system/Patient.cruds"})
    assert wider.status_code == 400 and wider.get_json()["error"] == "invalid_scope"
    other_grant = secured.client.post("/auth/token", data={"grant_type": "password"})
    assert other_grant.get_json()["error"] == "unsupported_grant_type"


def test_without_a_token_the_api_answers_401_with_bearer_and_an_outcome(secured):
    answer = secured.client.get("/fhir/Patient")
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.get_json()["resourceType"] == "OperationOutcome"
    assert secured.client.get("/fhir/metadata").status_code == 200


def test_a_read_only_token_reads_but_cannot_write(secured):
    patient, _ = _seed(secured)
    for scope in ("system/*.rs", "system/Patient.read"):
        headers = bearer(token_for(secured, scope))
        assert secured.client.get(f"/fhir/Patient/{patient}", headers=headers).status_code == 200
        refused = secured.client.post("/fhir/Patient", json=PATIENT, headers=headers)
        assert refused.status_code == 403
        assert "system/Patient.c" in refused.get_json()["issue"][0]["diagnostics"]
        assert secured.client.delete(f"/fhir/Patient/{patient}", headers=headers).status_code == 403


def test_a_patient_token_reaches_no_observation_by_any_path(secured):
    patient, vital = _seed(secured)
    headers = bearer(token_for(secured, "system/Patient.cruds"))
    assert secured.client.get("/fhir/Observation", headers=headers).status_code == 403
    assert secured.client.get(f"/fhir/Observation/{vital}", headers=headers).status_code == 403
    revinclude = secured.client.get("/fhir/Patient?_revinclude=Observation:subject", headers=headers)
    assert revinclude.status_code == 403 and "system/Observation.s" in revinclude.get_data(as_text=True)
    assert secured.client.get("/fhir/Patient?_has:Observation:subject:code=weight", headers=headers).status_code == 403
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Patient/{patient}"}},
        {"request": {"method": "GET", "url": f"Observation/{vital}"}}]}
    answered = secured.client.post("/fhir", json=batch, headers=headers).get_json()
    assert [e["response"]["status"][:3] for e in answered["entry"]] == ["200", "403"]


def test_a_transaction_touching_an_unscoped_type_is_refused_whole(secured):
    headers = bearer(token_for(secured, "system/Patient.cruds"))
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p1", "resource": {**PATIENT, "identifier": [{"system": "urn:test:mrn",
                                                                           "value": "MRN-TX-1"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": _observation("urn:uuid:p1", "vital-signs") | {"subject": {"reference": "urn:uuid:p1"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    refused = secured.client.post("/fhir", json=transaction, headers=headers)
    assert refused.status_code == 403 and "system/Observation.c" in refused.get_data(as_text=True)
    found = secured.client.get("/fhir/Patient?identifier=urn:test:mrn|MRN-TX-1", headers=headers).get_json()
    assert found.get("entry", []) == []


def test_an_included_resource_outside_the_scopes_is_left_out(secured):
    patient, _ = _seed(secured)
    everything = bearer(token_for(secured, "system/*.cruds"))
    secured.client.post("/fhir/Appointment", headers=everything, json={
        "resourceType": "Appointment", "status": "booked", "start": "2026-12-10T09:00:00Z",
        "end": "2026-12-10T09:30:00Z", "participant": [{"actor": {"reference": f"Patient/{patient}"},
                                                         "status": "accepted"}]})
    headers = bearer(token_for(secured, "system/Appointment.rs"))
    bundle = secured.client.get("/fhir/Appointment?_include=Appointment:patient", headers=headers).get_json()
    assert {e["resource"]["resourceType"] for e in bundle["entry"]} == {"Appointment"}


def test_the_query_form_grants_only_matching_resources(secured):
    patient, vital = _seed(secured)
    headers = bearer(token_for(secured, "system/Observation.rs?category=vital-signs"))
    bundle = secured.client.get(f"/fhir/Observation?subject=Patient/{patient}", headers=headers).get_json()
    assert [e["resource"]["id"] for e in bundle["entry"]] == [vital]
    laboratory = [e["resource"]["id"] for e in secured.client.get(
        "/fhir/Observation?category=laboratory", headers=bearer(token_for(secured, "system/*.rs"))).get_json()["entry"]]
    assert secured.client.get(f"/fhir/Observation/{vital}", headers=headers).status_code == 200
    assert secured.client.get(f"/fhir/Observation/{laboratory[0]}", headers=headers).status_code == 403


def test_every_access_leaves_a_phi_free_audit_event(secured):
    patient, _ = _seed(secured)
    reader = secured.access.clients.add("reader", "system/Patient.rs")
    token = secured.client.post("/auth/token", data={
        "grant_type": "client_credentials", "client_id": reader["client_id"],
        "client_secret": reader["client_secret"]}).get_json()["access_token"]
    secured.client.get(f"/fhir/Patient/{patient}", headers=bearer(token))
    secured.client.get("/fhir/Patient?family=Quillfeather&birthdate=1961-07-14", headers=bearer(token))
    secured.client.post("/fhir/Patient", json=PATIENT, headers=bearer(token))
    auditor = bearer(token_for(secured, "system/AuditEvent.rs"))
    assert secured.client.get("/fhir/AuditEvent", headers=bearer(token)).status_code == 403
    bundle = secured.client.get(f"/fhir/AuditEvent?agent={reader['client_id']}", headers=auditor).get_json()
    events = [e["resource"] for e in bundle["entry"]]
    seen = {(e["subtype"][0]["code"], e["outcome"]) for e in events}
    assert {("read", "0"), ("search-type", "0"), ("create", "4"), ("token", "0")} <= seen
    assert all(e["agent"][0]["who"]["identifier"]["value"] == reader["client_id"] for e in events)
    search = next(e for e in events if e["subtype"][0]["code"] == "search-type"
                  and e["entity"][0]["what"] == {"display": "Patient"})
    assert search["entity"][0]["detail"][0]["valueString"] == "birthdate,family"
    text = json.dumps(bundle)
    assert "Quillfeather" not in text and "1961-07-14" not in text and "MRN-ACCESS-7781" not in text
    failures = secured.client.get(f"/fhir/AuditEvent?agent={reader['client_id']}&outcome=4", headers=auditor)
    assert [(e["resource"]["subtype"][0]["code"], e["resource"]["entity"][0]["what"]["display"])
            for e in failures.get_json()["entry"]] == [("search-type", "AuditEvent"), ("create", "Patient")]
    today = events[0]["recorded"][:10]
    dated = secured.client.get(f"/fhir/AuditEvent?entity=Patient/{patient}&date=ge{today}", headers=auditor)
    assert {e["resource"]["subtype"][0]["code"] for e in dated.get_json()["entry"]} >= {"read"}


def test_hl7_over_http_needs_the_hl7_send_scope(secured):
    from sqlalchemy import func, select

    from engine.db.models import Message
    from support.hl7_messages import adt

    def stored() -> int:
        with secured.database.read() as session:
            return session.scalar(select(func.count()).select_from(Message))

    message = adt("A01", "HTTP-SCOPE-1")
    assert secured.client.post("/hl7", data=message).status_code == 401
    lacking = secured.client.post("/hl7", data=message, headers=bearer(token_for(secured, "system/*.cruds")))
    assert lacking.status_code == 403 and "hl7.send" in lacking.get_data(as_text=True)
    assert stored() == 0
    accepted = secured.client.post("/hl7", data=message, headers=bearer(token_for(secured, "hl7.send")))
    assert accepted.status_code == 200 and b"MSA|A" in accepted.data and stored() == 1


def test_audit_events_are_valid_fhir_r4(secured):
    from engine.repository.validation import validate_resource

    _seed(secured)
    secured.client.get("/fhir/Patient?family=x")
    auditor = bearer(token_for(secured, "system/AuditEvent.rs"))
    bundle = secured.client.get("/fhir/AuditEvent?_count=20", headers=auditor).get_json()
    assert len(bundle["entry"]) >= 5
    for entry in bundle["entry"]:
        validate_resource(entry["resource"])
    one = bundle["entry"][0]["resource"]
    assert secured.client.get(f"/fhir/AuditEvent/{one['id']}", headers=auditor).get_json() == one
    assert secured.client.get("/fhir/AuditEvent?patient=x", headers=auditor).status_code == 400
    assert secured.client.delete(f"/fhir/AuditEvent/{one['id']}", headers=auditor).status_code == 405
