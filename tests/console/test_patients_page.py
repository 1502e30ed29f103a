"""The console's patients: a search by MRN or by name finds the patient (and is audited with the
parameters' names only); the patient's page shows identifiers, cross-references, records and sync log
(audited as a read); an operator links, unlinks and resyncs, each audited; roles without ``raw`` get 403."""

from __future__ import annotations

import pytest

from engine.db.models import CrossReference, Delivery
from engine.fhir_api.exchange import FhirRequest
from engine.fhir_api.interactions import FhirApi
from support.access import csrf_of

MRN_SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
BASE = "http://localhost/fhir"


def create(runtime, resource: dict) -> str:
    answer = FhirApi(runtime.fhir_writer).handle(FhirRequest("POST", resource["resourceType"], BASE, body=resource))
    assert answer.status == 201, answer.body
    return answer.body["id"]


@pytest.fixture
def patient(secured) -> str:
    patient_id = create(secured, {"resourceType": "Patient", "identifier": [{"system": MRN_SYSTEM, "value": "100001"}],
                                  "name": [{"family": "Everywoman", "given": ["Eve"]}], "birthDate": "1980-04-02"})
    create(secured, {"resourceType": "Patient", "identifier": [{"system": MRN_SYSTEM, "value": "200002"}],
                     "name": [{"family": "Nobody", "given": ["Ned"]}]})
    return patient_id


def audited(runtime, subtype: str) -> list:
    return [r for r in runtime.access.audit.find(limit=500) if r.subtype == subtype and r.entity_type == "Patient"]


def test_a_search_by_mrn_finds_the_patient_and_is_audited_without_the_value(secured, signed_in, patient):
    page = signed_in("operator").get("/admin/patients?identifier=100001").get_data(as_text=True)
    assert f'data-patient="{patient}"' in page and "Everywoman" in page and "Nobody" not in page
    [record] = audited(secured, "search")
    assert (record.agent, record.surface, record.query) == ("operator-1", "console", "identifier")


def test_a_search_by_mrn_with_its_system_names_both(secured, signed_in, patient):
    client = signed_in("operator")
    assert "Everywoman" in client.get(f"/admin/patients?identifier=100001&system={MRN_SYSTEM}").get_data(as_text=True)
    assert "Everywoman" not in client.get("/admin/patients?identifier=100001&system=urn:other").get_data(as_text=True)


def test_a_search_by_name_finds_the_patient(secured, signed_in, patient):
    page = signed_in("operator").get("/admin/patients?family=everywo&given=Eve").get_data(as_text=True)
    assert f'data-patient="{patient}"' in page and "Nobody" not in page
    assert audited(secured, "search")[0].query == "family,given"


@pytest.mark.parametrize("role", ["viewer", "integrator"])
def test_roles_without_raw_may_not_search_or_see_patients(secured, signed_in, patient, role):
    client = signed_in(role)
    assert client.get("/admin/patients?identifier=100001").status_code == 403
    assert client.get(f"/admin/patients/{patient}").status_code == 403
    assert "/admin/patients" not in client.get("/admin/").get_data(as_text=True)  # not in the navigation


def test_the_patient_page_shows_identifiers_records_and_sync_log_and_is_audited(secured, signed_in, patient):
    document = create(secured, {"resourceType": "DocumentReference", "status": "current",
                                "subject": {"reference": f"Patient/{patient}"}, "description": "Discharge letter",
                                "content": [{"attachment": {"contentType": "text/plain", "url": "urn:x"}}]})
    appointment = create(secured, {"resourceType": "Appointment", "status": "booked", "description": "Follow-up",
                                   "participant": [{"actor": {"reference": f"Patient/{patient}"},
                                                    "status": "accepted"}]})
    page = signed_in("operator").get(f"/admin/patients/{patient}").get_data(as_text=True)
    assert "100001" in page and MRN_SYSTEM in page and "1980-04-02" in page
    assert f'data-resource="DocumentReference/{document}"' in page and "Discharge letter" in page
    assert f'data-resource="Appointment/{appointment}"' in page
    assert "Sync log" in page
    [record] = audited(secured, "read")
    assert (record.entity_id, record.surface) == (patient, "console")


def test_an_unknown_patient_is_404(secured, signed_in):
    assert signed_in("operator").get("/admin/patients/no-such-patient").status_code == 404


def test_an_operator_links_and_unlinks_a_cross_reference(secured, signed_in, patient):
    client = signed_in("operator")
    page = client.get(f"/admin/patients/{patient}").get_data(as_text=True)
    answer = client.post(f"/admin/patients/{patient}/cross-references",
                         data={"csrf_token": csrf_of(page), "destination": "carepatron", "remote_id": "cp-42"})
    assert answer.status_code == 302
    page = client.get(f"/admin/patients/{patient}").get_data(as_text=True)
    assert 'data-destination="carepatron"' in page and "cp-42" in page
    with secured.database.read() as session:
        assert session.get(CrossReference, ("carepatron", "Patient", patient)).remote_id == "cp-42"
    client.post(f"/admin/patients/{patient}/cross-references/unlink",
                data={"csrf_token": csrf_of(page), "destination": "carepatron"})
    with secured.database.read() as session:
        assert session.get(CrossReference, ("carepatron", "Patient", patient)) is None
    assert [(r.subtype, r.outcome) for r in reversed(secured.access.audit.find(limit=50))
            if r.subtype in ("link", "unlink")] == [("link", "0"), ("unlink", "0")]


def test_a_link_needs_the_csrf_token_and_a_known_destination(secured, signed_in, patient):
    client = signed_in("operator")
    page = client.get(f"/admin/patients/{patient}").get_data(as_text=True)
    assert client.post(f"/admin/patients/{patient}/cross-references",
                       data={"destination": "carepatron", "remote_id": "cp-1"}).status_code == 403
    client.post(f"/admin/patients/{patient}/cross-references",
                data={"csrf_token": csrf_of(page), "destination": "nowhere", "remote_id": "cp-1"})
    with secured.database.read() as session:
        assert session.query(CrossReference).count() == 0


def test_the_resync_button_plans_deliveries_announces_them_and_is_audited(carepatron_on, patient):
    client = carepatron_on.client
    page = client.get(f"/admin/patients/{patient}").get_data(as_text=True)
    assert "Resync" in page
    answer = client.post(f"/admin/patients/{patient}/resync", data={"csrf_token": csrf_of(page)})
    assert answer.status_code == 302
    with carepatron_on.database.read() as session:
        planned = session.query(Delivery).filter(Delivery.origin == "manual").all()
    assert [(d.destination, d.resource_type, d.resource_id) for d in planned] == [("carepatron", "Patient", patient)]
    assert f"Resync planned: 1 delivery ({planned[0].id})" in client.get(f"/admin/patients/{patient}").get_data(
        as_text=True)
    [record] = audited(carepatron_on, "resync")
    assert (record.entity_id, record.agent, record.outcome) == (patient, "operator-1", "0")


@pytest.mark.parametrize("role", ["viewer", "integrator"])
def test_roles_without_operate_may_not_link_or_resync(secured, signed_in, patient, role):
    client = signed_in(role)
    token = csrf_of(client.get("/admin/").get_data(as_text=True))
    assert client.post(f"/admin/patients/{patient}/resync", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/admin/patients/{patient}/cross-references",
                       data={"csrf_token": token, "destination": "carepatron", "remote_id": "x"}).status_code == 403


@pytest.fixture
def carepatron_on(secured):
    """The same engine with Carepatron delivery on (its API key set), an operator signed in on its client."""
    from carebridge.app import create_app
    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings
    from support.access import sign_in

    runtime = build_runtime(Settings.from_env({**secured.settings.environ, "CAREPATRON_API_KEY": "console-key"}))
    runtime.client = create_app(runtime).test_client()
    runtime.access.users.add("operator-1", "operator", "console-test-password")
    assert sign_in(runtime.client, "operator-1", "console-test-password").status_code == 302
    yield runtime
    runtime.close()
