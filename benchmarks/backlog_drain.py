"""How fast a backlog drains under faults, in the scaled mode (issue 12, item 4).

    python benchmarks/backlog_drain.py [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--redis-url redis://127.0.0.1:6379/0]

Sends 135 HL7 v2 records of five kinds over MLLP to `carebridge serve` on PostgreSQL + Redis with
two worker processes (4 threads each), while the Carepatron simulator answers every 7th request
429 (Retry-After: 1), fails 30% with 5xx and adds 50 ms; one worker is killed with SIGKILL midway.
Prints ACK-to-delivered p50, p99 and max, the time from the last ACK until everything was
delivered, and the calls made against the rate limit. Prints figures only; it never passes or fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))


def main() -> None:
    from support import services

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=services.POSTGRES_ADMIN_URL,
                        help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--redis-url", default=services.REDIS_URL)
    parser.add_argument("--deadline", type=float, default=600, help="give up after this many seconds")
    args = parser.parse_args()

    import psycopg
    from backlog_mix import run

    from simulators.carepatron import CarepatronSimulator
    from support.config import TEST_API_KEY

    name = f"carebridge_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = f"{args.postgres_url.rsplit('/', 1)[0]}/{name}"
    try:
        with tempfile.TemporaryDirectory() as folder, CarepatronSimulator(api_key=TEST_API_KEY) as simulator:
            started = time.monotonic()
            _, figures = run(Path(folder), simulator, database_url, args.redis_url, f"bench-{name}", args.deadline)
            print(f"{figures.line()} run_seconds={time.monotonic() - started:.0f}")
    finally:
        with psycopg.connect(args.postgres_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
