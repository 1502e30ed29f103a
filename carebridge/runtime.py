"""Wires the stations together from settings and the engine configuration, in one place."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from connectors.inbound.hl7_receiver import Hl7Receiver
from connectors.inbound.sender_policy import SenderPolicy
from connectors.outbound.registry import build_destination
from engine.access.control import AccessControl
from engine.config.engine_config import ChannelConfig, EngineConfig, load_engine_config
from engine.config.environment import Settings
from engine.db.database import Database
from engine.delivery.breaker import BreakerSettings, CircuitBreaker
from engine.delivery.destination import Destination
from engine.delivery.queue import DeliveryQueue, build_broker
from engine.delivery.rate_limit import build_rate_limits
from engine.delivery.retry_policy import RetryPolicy
from engine.delivery.service import DeliveryService
from engine.delivery.shared_state import build_shared_state, shared_redis_url
from engine.delivery.sweeper import Sweeper
from engine.fhir_api.writes import FhirWriter
from engine.operations.replay import MessageReplay
from engine.pipeline.file_settings import FileChannelSettings
from engine.pipeline.file_writes import FileWriter
from engine.pipeline.files import FileReceiver
from engine.pipeline.hl7 import Mapper, Pipeline
from engine.pipeline.hl7_limits import Hl7Limits
from engine.repository.resources import FhirRepository
from engine.routing.router import Router
from engine.store.message_store import MessageStore
from foundation.yaml_files import ConfigError

log = logging.getLogger(__name__)

#: The mapping configs shipped with the engine.
MAPPING_CONFIGS = Path(__file__).resolve().parent.parent / "mappings" / "configs"
#: How a channel's messages are decoded when MSH-18 is empty or unknown and the channel says nothing.
DEFAULT_CHARSET = "utf-8"


@dataclass
class Runtime:
    """Every station of one engine process, built from its settings."""

    settings: Settings
    config: EngineConfig
    database: Database
    store: MessageStore
    repository: FhirRepository
    mapper: Mapper
    router: Router
    destinations: dict[str, Destination]
    delivery: DeliveryService
    queue: DeliveryQueue
    sweeper: Sweeper
    pipeline: Pipeline
    replay: MessageReplay
    receivers: dict[str, Hl7Receiver] = field(default_factory=dict)
    #: Writes from the FHIR API (and FHIR files): resources and their outbox rows in one commit.
    fhir_writer: FhirWriter | None = None
    #: Receivers of the file channels (drop folders, SFTP), by channel name.
    file_receivers: dict[str, FileReceiver] = field(default_factory=dict)
    #: Who may call the engine, and the audit trail of what they did.
    access: AccessControl | None = None

    def close(self) -> None:
        self.sweeper.stop()
        self.database.dispose()


def build_mapper(settings: Settings, config: EngineConfig, strict: bool = True) -> Mapper:
    """The mapper over the shipped configs and the channels' overrides; raises
    :class:`mappings.mapper.ChannelProblems` when the shipped configs do not compile, unless
    not ``strict`` (for ``carebridge mappings check``)."""
    from mappings.mapper import Mapper as ConfigMapper

    return ConfigMapper.from_directories(
        configs_dir=MAPPING_CONFIGS,
        overrides_dir=settings.config_path.parent / "mappings",
        authority_systems=config.authority_systems,
        default_system=config.default_system,
        strict=strict,
    )


def channel_charsets(config: EngineConfig) -> dict[str, str]:
    """Each channel's ``default_charset``: for messages whose MSH-18 is empty or unknown."""
    return {c.name: c.options.get("default_charset", DEFAULT_CHARSET) for c in config.channels}


def sender_policy(config: EngineConfig, channel: ChannelConfig) -> SenderPolicy:
    """A channel's ``allowed_networks`` and ``allowed_senders``; a bad network is a :class:`ConfigError`."""
    try:
        return SenderPolicy.from_options(channel.options)
    except ValueError as exc:
        raise ConfigError(config.source, [f" channels.{channel.name}: {exc}"]) from None


def build_runtime(settings: Settings, config: EngineConfig | None = None, mapper: Mapper | None = None) -> Runtime:
    """Build the engine; raises :class:`foundation.yaml_files.ConfigError` on a bad configuration."""
    config = config or load_engine_config(settings.config_path, settings.environ or None)
    database = Database(settings.database_url)
    store = MessageStore(database)
    repository = FhirRepository(database)
    scaled = not settings.in_process_broker
    shared_redis = shared_redis_url(settings.broker_url, settings.shared_state_url, scaled)
    rate_limits = build_rate_limits(shared_redis, settings.queue_namespace,
                                    {d.name: int(d.options["rate_limit_per_minute"]) for d in config.destinations
                                     if str(d.options.get("rate_limit_per_minute") or "").strip()},
                                    settings.delivery_lease_seconds)
    destinations = {d.name: built for d in config.destinations
                    if (built := build_destination(d, rate_limits.get(d.name))) is not None}
    policies = {d.name: RetryPolicy.from_config(d.retry) for d in config.destinations}
    breaker = CircuitBreaker(build_shared_state(shared_redis, settings.queue_namespace),
                             {d.name: BreakerSettings(**(d.options.get("circuit_breaker") or {}))
                              for d in config.destinations})
    router = Router(config.routes, set(destinations), config_path=Path(config.source),
                    environ=settings.environ or None)
    broker = build_broker(settings)
    # The queue and the delivery service refer to each other: the service re-queues through
    # the queue, and the queue's actor runs the service.
    holder: dict[str, DeliveryService] = {}
    queue = DeliveryQueue(broker, lambda delivery_id: holder["service"].run(delivery_id), settings.queue_namespace)
    delivery = DeliveryService(database, destinations, policies, queue.enqueue, settings.delivery_lease_seconds,
                               breaker=breaker, transform=router.transform, route_of=router.route_to)
    holder["service"] = delivery
    sweeper = Sweeper(database, queue.enqueue, settings.sweep_interval_seconds, settings.delivery_lease_seconds)
    mapper = mapper or build_mapper(settings, config)
    pipeline = Pipeline(database, store, mapper, repository, router, queue.enqueue, channel_charsets(config),
                        Hl7Limits.from_environ(settings.environ))
    receivers = {c.name: Hl7Receiver(pipeline, store, c.name, sender_policy(config, c))
                 for c in config.channels if c.type in ("mllp", "http")}
    receivers.setdefault("http", Hl7Receiver(pipeline, store, "http"))
    fhir_writer = FhirWriter(database, repository, router, queue.enqueue)
    writer = FileWriter(fhir_writer)
    file_receivers = {}
    for channel in config.channels:
        if channel.type in ("folder", "sftp"):
            try:
                channel_settings = FileChannelSettings.from_config(channel, settings.config_path.parent)
            except ValueError as exc:
                raise ConfigError(config.source, [f" channels.{channel.name}: {exc}"]) from None
            file_receivers[channel.name] = FileReceiver(channel_settings, store, pipeline, writer, repository, database)
    return Runtime(settings, config, database, store, repository, mapper, router, destinations, delivery,
                   queue, sweeper, pipeline, MessageReplay(pipeline, store), receivers, fhir_writer, file_receivers,
                   AccessControl.build(settings, database))
