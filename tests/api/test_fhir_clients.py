"""Real FHIR clients (fhirpy, fhirclient) drive `carebridge serve` through their documented APIs."""

from __future__ import annotations

import uuid

import pytest
from fhirclient import client as smart_client
from fhirclient.models.bundle import Bundle as SmartBundle
from fhirclient.models.fhirsearch import FHIRSearch
from fhirclient.models.humanname import HumanName
from fhirclient.models.observation import Observation as SmartObservation
from fhirclient.models.patient import Patient as SmartPatient
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome, ResourceNotFound
from sqlalchemy import text

from engine.db.database import Database
from engine.db.migrations import upgrade
from support.engine_process import start_engine

pytestmark = pytest.mark.e2e


def _empty_postgres(server_url: str) -> str:
    """The session's PostgreSQL database, emptied and brought to the current schema."""
    database = Database(server_url)
    with database.engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(database)
    database.dispose()
    return server_url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(request, tmp_path_factory):
    """One engine per backend for this module's tests; each test uses names of its own."""
    tmp_path = tmp_path_factory.mktemp("fhir-clients")
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'carebridge.db'}"
    else:
        database_url = _empty_postgres(request.getfixturevalue("postgres_server_url"))
    process = start_engine(tmp_path, {"CAREBRIDGE_DATABASE_URL": database_url}, "--no-mllp")
    yield process
    assert process.stop() == 0, process.log()


@pytest.fixture
def fhirpy(engine) -> SyncFHIRClient:
    return SyncFHIRClient(f"{engine.base_url}/fhir")


@pytest.fixture
def smart(engine) -> smart_client.FHIRClient:
    return smart_client.FHIRClient(settings={"app_id": "carebridge-tests", "api_base": f"{engine.base_url}/fhir"})


@pytest.fixture
def family() -> str:
    """A family name no other test uses."""
    return "Fam" + uuid.uuid4().hex[:8]


def test_fhirpy_create_read_update_delete(fhirpy, family):
    patient = fhirpy.resource("Patient", name=[{"family": family, "given": ["Ada"]}], gender="female")
    patient.save()
    assert patient.id and patient.meta.versionId == "1"
    read = fhirpy.reference("Patient", patient.id).to_resource()
    assert read.name[0].family == family
    read["birthDate"] = "1980-02-14"
    read.save()
    assert fhirpy.reference("Patient", patient.id).to_resource().meta.versionId == "2"
    read.delete()
    with pytest.raises(ResourceNotFound):
        fhirpy.reference("Patient", patient.id).to_resource()


def test_fhirpy_search_with_modifiers_and_prefixes(fhirpy, family):
    for given, born in (("Ada", "1980-02-14"), ("Grace", "1990-06-01"), ("Alan", "2000-01-01")):
        fhirpy.resource("Patient", name=[{"family": family, "given": [given]}], birthDate=born).save()
    patients = fhirpy.resources("Patient")
    assert len(patients.search(family__exact=family).fetch()) == 3
    assert len(patients.search(family__exact=family.lower()).fetch()) == 0
    assert [p.name[0].given[0] for p in patients.search(family=family.upper()[:6], given__contains="RAC").fetch()] \
        == ["Grace"]
    born_after = patients.search(family=family, birthdate__ge="1985").sort("birthdate").fetch()
    assert [p.name[0].given[0] for p in born_after] == ["Grace", "Alan"]
    assert patients.search(family=family, birthdate__lt="1985").count() == 1


def test_fhirpy_pages_to_the_end_through_next_links(fhirpy, family):
    for n in range(7):
        fhirpy.resource("Patient", name=[{"family": family, "given": [f"N{n}"]}]).save()
    everyone = fhirpy.resources("Patient").search(family=family).limit(3).fetch_all()
    assert sorted(p.name[0].given[0] for p in everyone) == [f"N{n}" for n in range(7)]


def test_fhirpy_transaction(fhirpy, family):
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    response = fhirpy.execute("", method="post", data={"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": patient_url, "resource": {"resourceType": "Patient", "name": [{"family": family}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
                      "subject": {"reference": patient_url}},
         "request": {"method": "POST", "url": "Observation"}}]})
    patient_id = response["entry"][0]["resource"]["id"]
    observations = fhirpy.resources("Observation").search(patient=patient_id).fetch()
    assert len(observations) == 1


def test_fhirpy_sees_an_invalid_resource_as_an_operation_outcome(fhirpy):
    with pytest.raises(OperationOutcome):
        fhirpy.resource("Patient", birthDate="not-a-date").save()


def test_fhirclient_create_read_update_search_delete(smart, family):
    patient = SmartPatient({"name": [{"family": family, "given": ["Ada"]}]})
    created = patient.create(smart.server)
    patient_id = created["id"]
    read = SmartPatient.read(patient_id, smart.server)
    assert read.name[0].family == family
    read.name.append(HumanName({"family": family, "given": ["Augusta"]}))
    read.update()
    found = list(FHIRSearch(SmartPatient, {"family": family}).perform_resources_iter(smart.server))
    assert [p.id for p in found] == [patient_id] and len(found[0].name) == 2
    read.delete()
    assert list(FHIRSearch(SmartPatient, {"family": family}).perform_resources_iter(smart.server)) == []


def test_fhirclient_pages_through_next_links(smart, family):
    for n in range(5):
        SmartPatient({"name": [{"family": family, "given": [f"N{n}"]}]}).create(smart.server)
    search = FHIRSearch(SmartPatient, {"family": family, "_count": "2"})
    pages = list(search.perform_iter(smart.server))
    assert len(pages) == 3
    assert sum(len(page.entry or []) for page in pages) == 5


def _given_names(smart, struct: dict) -> list[str]:
    """First given names of the Patients a fhirclient search struct finds, by birth date."""
    search = FHIRSearch(SmartPatient, {**struct, "_sort": "birthdate"})
    return [p.name[0].given[0] for p in search.perform_resources_iter(smart.server)]


def test_fhirclient_search_with_modifiers(smart, family):
    for given, born in (("Ada", "1980-02-14"), ("Grace", "1990-06-01"), ("Alan", None)):
        SmartPatient({"name": [{"family": family, "given": [given]}], **({"birthDate": born} if born else {})}
                     ).create(smart.server)
    assert _given_names(smart, {"family": {"$exact": family}}) == ["Alan", "Ada", "Grace"]
    assert _given_names(smart, {"family": {"$exact": family.lower()}}) == []
    assert _given_names(smart, {"family": family, "birthdate": {"$missing": "true"}}) == ["Alan"]
    assert _given_names(smart, {"family": family, "birthdate": {"$missing": "false"}}) == ["Ada", "Grace"]
    assert _given_names(smart, {"family": family, "given:contains": "RAC"}) == ["Grace"]
    assert _given_names(smart, {"family": family, "given": {"$or": ["ada", "alan"]}}) == ["Alan", "Ada"]


def test_fhirclient_search_with_prefixes(smart, family):
    for given, born in (("Ada", "1980-02-14"), ("Grace", "1990-06-01"), ("Alan", "2000-01-01")):
        SmartPatient({"name": [{"family": family, "given": [given]}], "birthDate": born}).create(smart.server)
    assert _given_names(smart, {"family": family, "birthdate": {"$gt": "1990-06-01"}}) == ["Alan"]
    assert _given_names(smart, {"family": family, "birthdate": {"$gte": "1990-06-01"}}) == ["Grace", "Alan"]
    assert _given_names(smart, {"family": family, "birthdate": {"$lt": "1990-06-01"}}) == ["Ada"]
    assert _given_names(smart, {"family": family, "birthdate": {"$lte": "1990-06"}}) == ["Ada", "Grace"]
    assert _given_names(smart, {"family": family, "birthdate": {"$gte": "1985", "$lt": "1995"}}) == ["Grace"]
    assert _given_names(smart, {"family": family, "birthdate": "ge2000"}) == ["Alan"]


def test_fhirclient_transaction(smart, family):
    patient_url = f"urn:uuid:{uuid.uuid4()}"
    bundle = SmartBundle({"type": "transaction", "entry": [
        {"fullUrl": patient_url, "resource": {"resourceType": "Patient", "name": [{"family": family}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
                      "subject": {"reference": patient_url}},
         "request": {"method": "POST", "url": "Observation"}}]})
    answer = SmartBundle(smart.server.post_json("", bundle.as_json()).json())
    assert answer.type == "transaction-response"
    assert [entry.response.status.split()[0] for entry in answer.entry] == ["201", "201"]
    patient_id = answer.entry[0].resource.id
    found = list(FHIRSearch(SmartObservation, {"subject": {"$type": "Patient", "$or": [patient_id]}})
                 .perform_resources_iter(smart.server))
    assert [o.subject.reference for o in found] == [f"Patient/{patient_id}"]
