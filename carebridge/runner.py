"""Runs engine processes: ``serve`` (HTTP or HTTPS, MLLP and, with the in-process broker, workers) and
``worker`` (delivery workers for a shared broker), each stopping cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Callable

from carebridge.first_start import prepare_access, start_audit_pruning
from carebridge.runtime import Runtime, build_runtime
from engine.config.environment import Settings
from engine.db.migrations import is_current, upgrade
from foundation.errors import CarebridgeError

log = logging.getLogger(__name__)


class SchemaNotReady(CarebridgeError):
    """The database schema is older than the engine (run ``carebridge db upgrade``)."""


def prepare_schema(runtime: Runtime) -> None:
    """A new or old SQLite file is brought up to date; PostgreSQL must be upgraded by an operator."""
    if is_current(runtime.database):
        return
    if runtime.database.is_sqlite:
        log.info("creating or upgrading the SQLite schema")
        upgrade(runtime.database)
        return
    raise SchemaNotReady("the database schema is not current: run `carebridge db upgrade` first")


def _stop_on_signal() -> threading.Event:
    """An event SIGTERM and SIGINT set, handled from the start: a signal that comes while the engine is
    still starting stops it cleanly once started, instead of killing it half-way."""
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def _wait_for(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass


def _tls_context(runtime, channel):
    """The channel's TLS context, or ``None`` for plain MLLP; a file that cannot be loaded is a config error."""
    from connectors.inbound.tls import server_context
    from foundation.yaml_files import ConfigError

    if not channel.options.get("tls"):
        return None
    try:
        return server_context(channel.options["tls"])
    except ValueError as exc:
        raise ConfigError(runtime.config.source, [f" channels.{channel.name}: {exc}"]) from None


def serve(settings: Settings, *, http: bool = True, mllp: bool = True, workers: bool | None = None,
          files: bool = True) -> None:
    """Run the engine until signalled. ``workers=None`` runs them only with the in-process broker.

    ``files=False`` leaves the file channels to another process: a folder channel resumes what
    is in its ``processing/`` at start, which would take files another process is working on.
    """
    from carebridge.app import create_app
    from carebridge.http_server import http_tls, start_http_listener
    from connectors.inbound.mllp import DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_MAX_CONNECTIONS, MllpListener
    from connectors.inbound.watchers import start_file_channel
    from engine.config.reloader import ConfigReloader

    stop = _stop_on_signal()
    # A half-set or unreadable certificate stops the engine before it touches the database.
    tls = http_tls(settings.environ) if http else None
    runtime = build_runtime(settings)
    prepare_schema(runtime)
    prepare_access(runtime, [settings.bind_host] if (http or mllp) else [])
    if mllp or http:
        runtime.replay.recover_stranded()
    # The router also looks on the message path; the timer lets an edit settle without traffic.
    reloader = ConfigReloader({"mappings": runtime.mapper.reload_if_changed,
                               "routes": runtime.router.check_file}, settings.config_reload_seconds)
    run_workers = settings.in_process_broker if workers is None else workers
    stoppers: list[Callable[[], None]] = []
    try:
        reloader.start()
        stoppers.append(reloader.stop)
        stoppers.append(start_audit_pruning(runtime).stop)
        if mllp:
            for channel in runtime.config.channels:
                if channel.type != "mllp" or not channel.enabled:
                    continue
                listener = MllpListener(
                    settings.bind_host, int(channel.options.get("port", settings.mllp_port)),
                    runtime.receivers[channel.name].receive_frame,
                    int(channel.options.get("max_message_bytes", settings.mllp_max_message_bytes)),
                    idle_timeout_seconds=float(channel.options.get("idle_timeout_seconds",
                                                                   DEFAULT_IDLE_TIMEOUT_SECONDS)),
                    ssl_context=_tls_context(runtime, channel),
                    max_connections=int(channel.options.get("max_connections", DEFAULT_MAX_CONNECTIONS)))
                listener.start()
                stoppers.append(listener.stop)
                log.info("channel %s: MLLP%s on %s:%s", channel.name, " over TLS" if listener.ssl_context else "",
                         settings.bind_host, listener.port)
        for name, receiver in runtime.file_receivers.items():
            if not files or not runtime.config.channel(name).enabled:
                continue
            file_channel = start_file_channel(runtime.config.channel(name), receiver)
            stoppers.append(file_channel.stop)
            log.info("channel %s: %s %s", name, runtime.config.channel(name).type, receiver.settings.directory)
        if http:
            listener = start_http_listener(create_app(runtime), settings.bind_host, settings.http_port, tls)
            stoppers.append(listener.stop)
            log.info("%s on %s:%s%s", listener.scheme.upper(), settings.bind_host, settings.http_port,
                     " (mutual TLS)" if tls and tls.client_ca else "")
        if run_workers:
            worker = runtime.queue.start_worker(settings.worker_threads)
            stoppers.append(worker.stop)
            runtime.sweeper.start()
            runtime.sweeper.sweep_once()  # resume what a previous run left due
            log.info("delivery workers: %d threads", settings.worker_threads)
        log.info("Carebridge is ready")
        _wait_for(stop)
    finally:
        for stop in reversed(stoppers):
            try:
                stop()
            except Exception:
                log.exception("error while stopping")
        runtime.close()
        log.info("Carebridge stopped")


def run_worker(settings: Settings, threads: int | None = None) -> None:
    """Run delivery workers (and a sweeper) against the shared broker until signalled."""
    from engine.config.reloader import ConfigReloader

    stop = _stop_on_signal()
    runtime = build_runtime(settings)
    if not is_current(runtime.database):
        raise SchemaNotReady("the database schema is not current: run `carebridge db upgrade` first")
    reloader = ConfigReloader({"routes": runtime.router.check_file}, settings.config_reload_seconds)
    reloader.start()
    worker = runtime.queue.start_worker(threads or settings.worker_threads)
    runtime.sweeper.start()
    runtime.sweeper.sweep_once()
    log.info("Carebridge worker ready: %d threads", threads or settings.worker_threads)
    try:
        _wait_for(stop)
    finally:
        reloader.stop()
        worker.stop()
        runtime.close()
        log.info("Carebridge worker stopped")
