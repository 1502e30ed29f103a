"""The delivery queue on Dramatiq: an in-process broker for the embedded mode, Redis (or
RabbitMQ) when API, listener and workers run as separate processes.

Queue messages carry only a delivery id. The outbox row is the truth; a lost message
delays a delivery (the sweeper re-sends it) and a duplicate one is harmless (claims are atomic).
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit

from engine.config.environment import Settings
from engine.delivery.shared_state import REDIS_SCHEMES

log = logging.getLogger(__name__)

#: The queue delivery messages travel on, after the namespace (``carebridge.deliveries``).
DELIVERY_QUEUE = "deliveries"
#: Retries of the actor itself, for failures outside a destination call (the database briefly away).
ACTOR_MAX_RETRIES = 5
#: A delivery attempt that runs longer than this is interrupted (milliseconds).
ACTOR_TIME_LIMIT_MS = 5 * 60 * 1000
#: How often a worker looks for due delayed messages (milliseconds). Dramatiq's default of a
#: second adds up to a second to every retry, and one patient's retries happen one after another.
WORKER_TIMEOUT_MS = 100


def _middleware() -> list:
    return [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(),
            Retries(max_retries=ACTOR_MAX_RETRIES, min_backoff=1000, max_backoff=60000)]


def build_broker(settings: Settings) -> dramatiq.Broker:
    """The broker named by ``CAREBRIDGE_BROKER_URL``."""
    url = settings.broker_url
    if settings.in_process_broker:
        return StubBroker(middleware=_middleware())
    if url.startswith(REDIS_SCHEMES):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url, namespace=settings.queue_namespace, middleware=_middleware())
    if url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=url, middleware=_middleware())
    raise ValueError(f"CAREBRIDGE_BROKER_URL: unsupported scheme in {url.split('://', 1)[0]!r} "
                     "(use memory://, redis://, or amqp://)")


class DeliveryQueue:
    """Sends delivery ids to workers and, in a worker, runs them.

    Example::

        queue = DeliveryQueue(build_broker(settings), service.run)
        queue.enqueue([1, 2, 3])
        worker = queue.start_worker(threads=4)
    """

    def __init__(self, broker: dramatiq.Broker, run: Callable[[int], None], namespace: str = "carebridge"):
        self.broker = broker
        self._run = run
        # RabbitMQ has no key prefix of its own, so the namespace goes in the queue name.
        self.actor = dramatiq.actor(
            self._perform, broker=broker, actor_name="deliver", queue_name=f"{namespace}.{DELIVERY_QUEUE}",
            max_retries=ACTOR_MAX_RETRIES, time_limit=ACTOR_TIME_LIMIT_MS,
        )

    def _perform(self, delivery_id: int) -> None:
        self._run(delivery_id)

    def enqueue(self, delivery_ids: Iterable[int], delay_seconds: float | None = None) -> None:
        delay_ms = int(delay_seconds * 1000) if delay_seconds else None
        for delivery_id in delivery_ids:
            self.actor.send_with_options(args=(delivery_id,), delay=delay_ms)

    def start_worker(self, threads: int) -> dramatiq.Worker:
        worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=WORKER_TIMEOUT_MS)
        worker.start()
        return worker

    def ping(self) -> None:
        """Raise if the broker cannot be reached."""
        client = getattr(self.broker, "client", None)
        if client is not None:
            client.ping()
        connection = getattr(self.broker, "connection", None)
        if client is None and connection is not None and not isinstance(self.broker, StubBroker):
            connection.process_data_events(0)
