"""Fixtures shared by Carebridge's tests: databases on both backends, Redis, the Carepatron
simulator, and test copies of the engine configuration."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from support import services
from support.config import TEST_API_KEY, write_test_config


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    services.require("PostgreSQL", services.postgres_up())
    import psycopg

    name = f"carebridge_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(services.POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    admin_base = services.POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{admin_base}/{name}"
    with psycopg.connect(services.POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,))
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """An empty schema-less database per test: tables are dropped before the test uses it."""
    return services.emptied_postgres(postgres_server_url)


@pytest.fixture
def redis_url() -> str:
    services.require("Redis", services.redis_up())
    return services.REDIS_URL


@pytest.fixture
def queue_namespace() -> str:
    """A Redis key prefix of this test alone, so parallel runs never share queues."""
    return f"carebridge-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """The same test on the embedded SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'carebridge.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def database(database_url):
    from engine.db.database import Database
    from engine.db.migrations import upgrade

    db = Database(database_url)
    upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def simulator():
    from simulators.carepatron import CarepatronSimulator

    with CarepatronSimulator(api_key=TEST_API_KEY) as sim:
        yield sim


@pytest.fixture
def test_config(tmp_path) -> Path:
    return write_test_config(tmp_path)


@pytest.fixture(params=["embedded", "scaled"])
def backend(request, tmp_path) -> dict[str, str]:
    """Environment of a run mode: SQLite with the in-process broker, or PostgreSQL with Redis."""
    if request.param == "embedded":
        return {"CAREBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'carebridge.db'}",
                "CAREBRIDGE_BROKER_URL": "memory://"}
    return {"CAREBRIDGE_DATABASE_URL": request.getfixturevalue("postgres_url"),
            "CAREBRIDGE_BROKER_URL": request.getfixturevalue("redis_url"),
            "CAREBRIDGE_QUEUE_NAMESPACE": request.getfixturevalue("queue_namespace")}


@pytest.fixture
def make_runtime(tmp_path, backend, simulator):
    """Builds an engine runtime in this process against the simulator; stops its workers after the test."""
    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings
    from engine.db.migrations import upgrade

    built = []

    def make(config_path: Path | None = None, mapper=None, workers: int = 2, **env):
        settings = Settings.from_env({
            **backend, "CAREBRIDGE_VAR_DIR": str(tmp_path / "var"),
            "CAREBRIDGE_CONFIG": str(config_path or write_test_config(tmp_path)),
            "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
            "CAREBRIDGE_DELIVERY_LEASE_SECONDS": "2", "CAREBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5",
            # Access has its own tests (tests/access); elsewhere the engine is called as on loopback with it off.
            "CAREBRIDGE_AUTH": "off", **env})
        if mapper == "bundled":
            from carebridge.runtime import build_mapper
            from engine.config.engine_config import load_engine_config

            mapper = build_mapper(settings, load_engine_config(settings.config_path, settings.environ))
        runtime = build_runtime(settings, mapper=mapper or _NoMapper())
        upgrade(runtime.database)
        worker = runtime.queue.start_worker(workers) if workers else None
        built.append((runtime, worker))
        return runtime

    yield make
    for runtime, worker in built:
        if worker:
            worker.stop()
        runtime.close()
        if hasattr(runtime.queue.broker, "close"):
            runtime.queue.broker.close()


class _NoMapper:
    """For tests that write resources directly and never map a message."""

    def map(self, raw, channel=None, default_charset="utf-8", header=None):
        raise AssertionError("this test does not map messages")
