"""RabbitMQ works as the broker too: a delivery travels through it to Carepatron."""

import pytest

from engine.routing import Source
from support import services
from support.engine_process import wait_until


@pytest.fixture
def backend(tmp_path, queue_namespace):
    services.require("RabbitMQ", services.rabbitmq_up())
    return {"CAREBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'carebridge.db'}",
            "CAREBRIDGE_BROKER_URL": services.RABBITMQ_URL, "CAREBRIDGE_QUEUE_NAMESPACE": queue_namespace}


def test_patient_is_delivered_through_rabbitmq(make_runtime, simulator):
    runtime = make_runtime()
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:example:mrn", "value": "R1"}],
               "name": [{"family": "Rabbit", "given": ["Roger"]}]}
    with runtime.database.write() as session:
        outcome = runtime.repository.save(session, patient)
        ids = [d.id for d in runtime.router.plan(session, [outcome], Source("test"))]
    runtime.queue.enqueue(ids)
    [client] = wait_until(lambda: simulator.records("clients"), message="delivery through RabbitMQ")
    assert client["externalId"] == "urn:example:mrn|R1"
    runtime.queue.ping()
