"""What an operator sees first: per channel and per destination, how much is where, how much went
through in the last hour, whether the listeners and the destinations are up, and what failed."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from engine.config.engine_config import ChannelConfig, EngineConfig
from engine.db.models import Delivery, DeliveryStatus, Message, MessageStatus, SyncLogEntry, utcnow
from engine.delivery import sync_log
from engine.delivery.breaker import CircuitBreaker

log = logging.getLogger(__name__)

#: How many recent failed messages the overview lists.
RECENT_FAILURES = 20
#: How many one-minute buckets the throughput charts cover (the last hour, this minute last).
CHART_MINUTES = 60
#: The message statuses every channel shows, zero or not.
CHANNEL_STATUSES = (MessageStatus.RECEIVED, MessageStatus.MAPPED, MessageStatus.UNSUPPORTED, MessageStatus.ERROR,
                    MessageStatus.REFUSED)
#: The delivery statuses every destination shows, zero or not.
DESTINATION_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT, DeliveryStatus.DELIVERED,
                        DeliveryStatus.FAILED)
#: How long a listener's port may take to accept a connection before it counts as down (seconds).
PROBE_TIMEOUT_SECONDS = 0.2
#: How long a probe's answer is reused, so a dashboard refreshing every few seconds connects rarely (seconds).
PROBE_CACHE_SECONDS = 5.0
#: Listener states: accepting connections, not accepting, switched off in the config, not a listener.
UP, DOWN, OFF, NOT_APPLICABLE = "up", "down", "off", "n/a"
#: Breaker states (``off``: the destination has no breaker; ``unknown``: its shared state cannot be read).
CLOSED, OPEN, HALF_OPEN, BREAKER_OFF, UNKNOWN = "closed", "open", "half-open", "off", "unknown"
#: Bind addresses that mean "every interface": the probe asks loopback instead.
ANY_ADDRESS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


@dataclass
class ChannelView:
    name: str
    type: str
    counts: dict[str, int] = field(default_factory=dict)
    last_received: datetime | None = None
    #: Whether the channel's listener accepts connections (:data:`UP`, :data:`DOWN`, ...).
    listener: str = NOT_APPLICABLE
    #: Messages received in each of the last :data:`CHART_MINUTES` minutes, oldest first.
    per_minute: list[int] = field(default_factory=lambda: [0] * CHART_MINUTES)


@dataclass
class DestinationView:
    name: str
    type: str
    active: bool
    counts: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: float | None = None
    #: The circuit breaker: :data:`CLOSED`, :data:`OPEN`, :data:`HALF_OPEN`, ...
    breaker: str = CLOSED
    #: Deliveries that succeeded in each of the last :data:`CHART_MINUTES` minutes, oldest first.
    per_minute: list[int] = field(default_factory=lambda: [0] * CHART_MINUTES)


@dataclass
class Overview:
    channels: list[ChannelView]
    destinations: list[DestinationView]
    #: The newest messages that were not mapped (error, unsupported, refused).
    failed_messages: list[Message]
    #: When the figures were read, and the start of the charts' first minute.
    as_of: datetime = field(default_factory=utcnow)
    chart_start: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON: counts, times, states and per-minute series; no message or delivery content."""
        def when(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment else None

        return {
            "as_of": when(self.as_of), "chart_start": when(self.chart_start), "chart_minutes": CHART_MINUTES,
            "channels": [{"name": c.name, "type": c.type, "counts": c.counts, "last_received": when(c.last_received),
                          "listener": c.listener, "per_minute": c.per_minute} for c in self.channels],
            "destinations": [{"name": d.name, "type": d.type, "active": d.active, "counts": d.counts,
                              "oldest_pending_seconds": d.oldest_pending_seconds, "breaker": d.breaker,
                              "per_minute": d.per_minute} for d in self.destinations],
        }


class ListenerProbe:
    """Whether an MLLP channel's listener accepts TCP connections, asked of its port on the bind host.

    The API process need not be the one that listens (``serve --no-mllp``), so the port is asked,
    not the process. Answers are kept :data:`PROBE_CACHE_SECONDS`.

    Example::

        probe = ListenerProbe("127.0.0.1", 2575)
        probe.state(config.channel("mllp"))   # "up", "down", "off" or "n/a"
    """

    def __init__(self, host: str, default_port: int, *, timeout: float = PROBE_TIMEOUT_SECONDS,
                 cache_seconds: float = PROBE_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.host = ANY_ADDRESS.get(host, host)
        self.default_port = default_port
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._answers: dict[int, tuple[float, str]] = {}

    def state(self, channel: ChannelConfig) -> str:
        if channel.type != "mllp":
            return NOT_APPLICABLE
        if not channel.enabled:
            return OFF
        try:
            port = int(channel.options.get("port", self.default_port))
        except (TypeError, ValueError):
            return DOWN
        now = self.clock()
        with self._lock:
            cached = self._answers.get(port)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        answer = self._connect(port)
        with self._lock:
            self._answers[port] = (now, answer)
        return answer

    def _connect(self, port: int) -> str:
        try:
            with socket.create_connection((self.host, port), timeout=self.timeout):
                return UP
        except OSError:
            return DOWN


def breaker_state(breaker: CircuitBreaker | None, destination: str) -> str:
    """The destination's circuit breaker as the workers see it, read without taking a probe slot."""
    if breaker is None:
        return BREAKER_OFF
    settings = breaker.settings.get(destination)
    if settings is not None and not settings.enabled:
        return BREAKER_OFF
    # The breaker's own key names; check() would claim the half-open probe slot, so it is not asked.
    open_key, tripped, _, _ = breaker._keys(destination)
    try:
        if breaker.state.remaining(open_key) > 0:
            return OPEN
        return HALF_OPEN if breaker.state.remaining(tripped) > 0 else CLOSED
    except Exception:  # Redis away: say so rather than fail the page
        log.warning("circuit breaker state unavailable for %s", destination)
        return UNKNOWN


def build_overview(session: Session, config: EngineConfig, active_destinations: set[str], *,
                   probe: ListenerProbe | None = None, breaker: CircuitBreaker | None = None,
                   now: datetime | None = None) -> Overview:
    now = now or utcnow()
    chart_start = now.replace(second=0, microsecond=0) - timedelta(minutes=CHART_MINUTES - 1)
    channels = {c.name: ChannelView(c.name, c.type, dict.fromkeys(CHANNEL_STATUSES, 0),
                                    listener=probe.state(c) if probe else NOT_APPLICABLE)
                for c in config.channels}
    for channel, status, count, last in session.execute(
            select(Message.channel, Message.status, func.count(), func.max(Message.received_at))
            .group_by(Message.channel, Message.status)):
        view = channels.setdefault(channel, ChannelView(channel, "(not configured)",
                                                        dict.fromkeys(CHANNEL_STATUSES, 0)))
        view.counts[status] = count
        view.last_received = max(filter(None, (view.last_received, _aware(last))), default=None)
    for channel, series in _per_minute(session, Message.channel, Message.received_at, chart_start).items():
        if channel in channels:
            channels[channel].per_minute = series
    destinations = {d.name: DestinationView(d.name, d.type, d.name in active_destinations,
                                            dict.fromkeys(DESTINATION_STATUSES, 0),
                                            breaker=breaker_state(breaker, d.name))
                    for d in config.destinations}
    for destination, status, count in session.execute(
            select(Delivery.destination, Delivery.status, func.count())
            .group_by(Delivery.destination, Delivery.status)):
        destinations.setdefault(destination, DestinationView(
            destination, "(not configured)", False, dict.fromkeys(DESTINATION_STATUSES, 0), breaker=BREAKER_OFF,
        )).counts[status] = count
    for destination, oldest in session.execute(
            select(Delivery.destination, func.min(Delivery.created_at))
            .where(Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT)))
            .group_by(Delivery.destination)):
        if oldest is not None and destination in destinations:
            destinations[destination].oldest_pending_seconds = max((now - _aware(oldest)).total_seconds(), 0.0)
    for destination, series in _per_minute(session, SyncLogEntry.destination, SyncLogEntry.created_at, chart_start,
                                           SyncLogEntry.status == sync_log.SUCCEEDED).items():
        if destination in destinations:
            destinations[destination].per_minute = series
    failed = list(session.scalars(
        select(Message)
        .where(Message.status.in_((MessageStatus.ERROR, MessageStatus.UNSUPPORTED, MessageStatus.REFUSED)))
        .order_by(Message.id.desc()).limit(RECENT_FAILURES)))
    return Overview(list(channels.values()), list(destinations.values()), failed, now, chart_start)


def _per_minute(session: Session, key, moment, start: datetime, *where) -> dict[str, list[int]]:
    """Rows since ``start`` counted per ``key`` and minute in one grouped query, as :data:`CHART_MINUTES` buckets."""
    if session.get_bind().dialect.name == "postgresql":
        minute = func.date_trunc(literal_column("'minute'"), moment)
    else:  # SQLite keeps times as ISO text: the first 16 characters are the minute
        minute = func.strftime(literal_column("'%Y-%m-%d %H:%M'"), moment)
    series: dict[str, list[int]] = {}
    for name, bucket, count in session.execute(
            select(key, minute, func.count()).where(moment >= start, *where).group_by(key, minute)):
        index = int((_aware(bucket) - start).total_seconds() // 60)
        if 0 <= index < CHART_MINUTES:
            series.setdefault(name, [0] * CHART_MINUTES)[index] += count
    return series


def _aware(moment: datetime | str | None) -> datetime | None:
    """A time read by an aggregate, which bypasses the column type: text on SQLite, naive UTC on PostgreSQL."""
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        moment = datetime.fromisoformat(str(moment))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
