"""RabbitMQ works as the broker too: a delivery travels through it to Carepatron."""

import pytest

from engine.routing.router import Source
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


def test_without_a_shared_state_url_rabbitmq_workers_are_warned_their_limits_are_their_own(make_runtime, caplog):
    from engine.delivery.shared_state import MemoryState

    with caplog.at_level("WARNING", logger="engine.delivery.shared_state"):
        runtime = make_runtime(workers=0)
    assert "CAREBRIDGE_SHARED_STATE_URL is not set" in caplog.text
    assert isinstance(runtime.delivery.breaker.state, MemoryState)


def test_with_a_shared_state_url_rabbitmq_workers_share_limits_and_breakers_in_redis(make_runtime, redis_url, caplog):
    from dramatiq.rate_limits.backends import RedisBackend

    from engine.delivery.shared_state import RedisState

    with caplog.at_level("WARNING", logger="engine.delivery.shared_state"):
        runtime = make_runtime(workers=0, CAREBRIDGE_SHARED_STATE_URL=redis_url)
    assert "CAREBRIDGE_SHARED_STATE_URL" not in caplog.text
    assert isinstance(runtime.delivery.breaker.state, RedisState)
    assert isinstance(runtime.destinations["carepatron"].throttle._limiter.backend, RedisBackend)
