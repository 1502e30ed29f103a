"""Finds the PostgreSQL and Redis services the scaled-mode tests use, and says how to get them.

On a machine without them the tests that need them are skipped with the reason; with
``CI=true`` a missing service fails the run instead.
"""

from __future__ import annotations

import os
import socket

import pytest

#: Where the services listen on this project's machines (as .ci/run starts them).
POSTGRES_ADMIN_URL = os.environ.get("CAREBRIDGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CAREBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("CAREBRIDGE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")

HOW_TO_ENABLE = {
    "PostgreSQL": "start it (see .ci/run for how) or set CAREBRIDGE_TEST_POSTGRES_URL",
    "Redis": "start it (see .ci/run for how) or set CAREBRIDGE_TEST_REDIS_URL",
    "RabbitMQ": "start it (see .ci/run for how) or set CAREBRIDGE_TEST_RABBITMQ_URL",
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def postgres_up() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2) as connection:
            connection.execute("SELECT 1")
        return True
    except Exception:
        return False


def redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def rabbitmq_up() -> bool:
    try:
        import pika

        pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL + "?connection_attempts=1&socket_timeout=2")).close()
        return True
    except Exception:
        return False


def require(name: str, available: bool) -> None:
    """Skip (or, under CI=true, fail) a test whose service is missing."""
    if available:
        return
    message = f"{name} is not reachable: {HOW_TO_ENABLE[name]}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


def emptied_postgres(url: str) -> str:
    """``url`` after dropping every table of its database, for a test (or a module) to start from."""
    from sqlalchemy import create_engine, text

    from engine.db.database import normalise_url

    engine = create_engine(normalise_url(url))
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url
