"""A Patient written through the FHIR API reaches Carepatron through the routes, as an ADT does."""

from __future__ import annotations

import pytest
from fhirpy import SyncFHIRClient
from sqlalchemy import select

from api.fhir_data import SYSTEM, patient
from carebridge.app import create_app
from engine.db.models import Delivery
from support.config import write_test_config
from support.engine_process import start_engine, wait_until


def _client_named(simulator, family: str):
    return next((c for c in simulator.records("clients") if c["lastName"] == family), None)


def test_a_posted_patient_is_delivered_to_carepatron(make_runtime, simulator):
    runtime = make_runtime()
    client = create_app(runtime).test_client()
    response = client.post("/fhir/Patient", json=patient(family="Apipost", mrn="300003"))
    assert response.status_code == 201
    delivered = wait_until(lambda: _client_named(simulator, "Apipost"), timeout=30, message="the client at Carepatron")
    assert delivered["externalId"] == f"{SYSTEM}|300003"


def _routed_from(channel: str) -> list[dict]:
    return [{"name": "patients", "match": {"resource_types": ["Patient"], "channels": [channel]},
             "destinations": ["carepatron"]}]


def test_a_write_commits_its_outbox_row_routed_as_the_fhir_api_channel(make_runtime, simulator, tmp_path):
    runtime = make_runtime(write_test_config(tmp_path, routes=_routed_from("fhir-api")), workers=0)
    client = create_app(runtime).test_client()
    stored = client.post("/fhir/Patient", json=patient()).get_json()
    with runtime.database.read() as session:
        [delivery] = session.scalars(select(Delivery)).all()
    assert (delivery.resource_id, delivery.resource_version) == (stored["id"], 1)


def test_a_route_for_another_channel_does_not_take_api_writes(make_runtime, simulator, tmp_path):
    runtime = make_runtime(write_test_config(tmp_path, routes=_routed_from("mllp")), workers=0)
    create_app(runtime).test_client().post("/fhir/Patient", json=patient())
    with runtime.database.read() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_an_update_through_the_api_delivers_the_new_version(make_runtime, simulator):
    runtime = make_runtime()
    client = create_app(runtime).test_client()
    stored = client.post("/fhir/Patient", json=patient(family="Before")).get_json()
    wait_until(lambda: _client_named(simulator, "Before"), timeout=30, message="the first version")
    client.put(f"/fhir/Patient/{stored['id']}", json={**patient(family="After"), "id": stored["id"]})
    wait_until(lambda: _client_named(simulator, "After"), timeout=30, message="the second version")
    assert len(simulator.records("clients")) == 1


@pytest.mark.e2e
def test_fhirpy_posted_patient_reaches_the_carepatron_simulator(tmp_path, simulator, test_config):
    engine = start_engine(tmp_path, {"CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": simulator.simulation.api_key,
                                     "CAREBRIDGE_CONFIG": str(test_config),
                                     "CAREBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5"}, "--no-mllp")
    try:
        fhirpy = SyncFHIRClient(f"{engine.base_url}/fhir")
        fhirpy.resource("Patient", **{k: v for k, v in patient(family="Viafhirpy", mrn="400004").items()
                                      if k != "resourceType"}).save()
        delivered = wait_until(lambda: _client_named(simulator, "Viafhirpy"), timeout=30,
                               message="the client at Carepatron")
        assert delivered["externalId"] == f"{SYSTEM}|400004"
    finally:
        assert engine.stop() == 0, engine.log()
