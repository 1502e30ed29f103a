"""Process settings from the environment: where the database, broker, ports and config are.

Everything an operator sets per machine lives here; what integrators edit (channels,
destinations, routes) lives in ``config/engine.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.config.locations import default_config_path
from foundation.yaml_files import ConfigError

#: Where the embedded run mode keeps its SQLite file, drop folders and logs.
DEFAULT_VAR_DIR = "./var"
#: Largest HL7 message the listener accepts (bytes); larger ones are refused with AR.
DEFAULT_MLLP_MAX_MESSAGE_BYTES = 10 * 1024 * 1024
#: Broker URL meaning "Dramatiq's in-process broker, workers inside ``carebridge serve``".
IN_PROCESS_BROKER = "memory://"
#: How long a worker owns a delivery it claimed, renewed while the worker lives; a dead worker's
#: deliveries go to another this long after it died.
DEFAULT_DELIVERY_LEASE_SECONDS = 15.0
#: How often the sweeper looks for deliveries that are due and not queued.
DEFAULT_SWEEP_INTERVAL_SECONDS = 5.0
#: How often edited mapping configs are looked for.
DEFAULT_CONFIG_RELOAD_SECONDS = 2.0


#: What a bad environment value is reported against, in place of a file name.
ENVIRONMENT_SOURCE = "environment"


def _number(environ: dict[str, str], name: str, default, kind: type, what: str):
    value = environ.get(name)
    if value in (None, ""):
        return default
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(ENVIRONMENT_SOURCE, [f" {name}: {value!r} is not {what}"]) from None


def _int(environ: dict[str, str], name: str, default: int) -> int:
    return _number(environ, name, default, int, "a whole number")


def positive_int(environ, name: str, default: int, ceiling: int | None = None) -> int:
    """A whole-number setting of at least 1 (and at most ``ceiling``); :class:`ConfigError` naming it otherwise."""
    value = (environ.get(name) or "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(ENVIRONMENT_SOURCE, [f" {name}: {value!r} is not a whole number"]) from None
    if number < 1:
        raise ConfigError(ENVIRONMENT_SOURCE, [f" {name}: must be 1 or more"])
    if ceiling is not None and number > ceiling:
        raise ConfigError(ENVIRONMENT_SOURCE, [f" {name}: must be {ceiling} or less"])
    return number


def _float(environ: dict[str, str], name: str, default: float) -> float:
    return _number(environ, name, default, float, "a number")


@dataclass(frozen=True)
class Settings:
    """Settings of one Carebridge process.

    Example::

        settings = Settings.from_env({"CAREBRIDGE_DATABASE_URL": "postgresql+psycopg://localhost/carebridge"})
    """

    var_dir: Path = Path(DEFAULT_VAR_DIR)
    database_url: str = ""
    broker_url: str = IN_PROCESS_BROKER
    #: Prefix of the broker's queues, so several engines can share one Redis.
    queue_namespace: str = "carebridge"
    #: Redis for the state worker processes share (rate limits, circuit breakers) when the broker is not Redis.
    shared_state_url: str = ""
    config_path: Path = field(default_factory=default_config_path)
    bind_host: str = "127.0.0.1"
    http_port: int = 8080
    mllp_port: int = 2575
    mllp_max_message_bytes: int = DEFAULT_MLLP_MAX_MESSAGE_BYTES
    worker_threads: int = 4
    delivery_lease_seconds: float = DEFAULT_DELIVERY_LEASE_SECONDS
    sweep_interval_seconds: float = DEFAULT_SWEEP_INTERVAL_SECONDS
    config_reload_seconds: float = DEFAULT_CONFIG_RELOAD_SECONDS
    log_level: str = "INFO"
    environ: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def in_process_broker(self) -> bool:
        return self.broker_url in ("", IN_PROCESS_BROKER, "stub://")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        """Read the settings; raise :class:`ConfigError` naming a variable whose value is not a number."""
        env = dict(os.environ if environ is None else environ)
        var_dir = Path(env.get("CAREBRIDGE_VAR_DIR") or DEFAULT_VAR_DIR)
        database_url = env.get("CAREBRIDGE_DATABASE_URL") or f"sqlite:///{(var_dir / 'carebridge.db').as_posix()}"
        return cls(
            var_dir=var_dir,
            database_url=database_url,
            broker_url=env.get("CAREBRIDGE_BROKER_URL") or IN_PROCESS_BROKER,
            queue_namespace=env.get("CAREBRIDGE_QUEUE_NAMESPACE") or "carebridge",
            shared_state_url=env.get("CAREBRIDGE_SHARED_STATE_URL") or "",
            config_path=Path(env["CAREBRIDGE_CONFIG"]) if env.get("CAREBRIDGE_CONFIG") else default_config_path(),
            bind_host=env.get("CAREBRIDGE_BIND_HOST") or "127.0.0.1",
            http_port=_int(env, "CAREBRIDGE_HTTP_PORT", 8080),
            mllp_port=_int(env, "CAREBRIDGE_MLLP_PORT", 2575),
            mllp_max_message_bytes=_int(env, "CAREBRIDGE_MLLP_MAX_MESSAGE_BYTES", DEFAULT_MLLP_MAX_MESSAGE_BYTES),
            worker_threads=_int(env, "CAREBRIDGE_WORKER_THREADS", 4),
            delivery_lease_seconds=_float(env, "CAREBRIDGE_DELIVERY_LEASE_SECONDS", DEFAULT_DELIVERY_LEASE_SECONDS),
            sweep_interval_seconds=_float(env, "CAREBRIDGE_SWEEP_INTERVAL_SECONDS", DEFAULT_SWEEP_INTERVAL_SECONDS),
            config_reload_seconds=_float(env, "CAREBRIDGE_CONFIG_RELOAD_SECONDS", DEFAULT_CONFIG_RELOAD_SECONDS),
            log_level=env.get("CAREBRIDGE_LOG_LEVEL") or "INFO",
            environ=env,
        )
