"""Deliveries per second to the Carepatron simulator at a given worker concurrency.

    python benchmarks/delivery_throughput.py --concurrency 8 --records 500 [--latency-ms 5]
        [--database-url postgresql://... --broker-url redis://...]

Each record is a new patient (one order key each, so concurrency is the only limit). Prints
figures only; it never passes or fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8, help="worker threads")
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--latency-ms", type=int, default=0, help="latency the simulator adds to each request")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--broker-url", default="memory://")
    args = parser.parse_args()

    import logging

    logging.basicConfig(level=logging.WARNING)
    from conftest import write_test_config
    from sqlalchemy import func, select

    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings
    from engine.db.migrations import upgrade
    from engine.db.models import Delivery
    from engine.routing.router import Source
    from simulators.carepatron import CarepatronSimulator

    class NoMapper:
        def map(self, raw, channel=None, default_charset="utf-8", header=None):
            raise AssertionError("the benchmark writes resources directly")

    with tempfile.TemporaryDirectory() as folder, CarepatronSimulator(api_key="bench") as simulator:
        if args.latency_ms:
            simulator.faults.latency(args.latency_ms)
        settings = Settings.from_env({
            "CAREBRIDGE_DATABASE_URL": args.database_url or f"sqlite:///{folder}/bench.db",
            "CAREBRIDGE_BROKER_URL": args.broker_url, "CAREBRIDGE_QUEUE_NAMESPACE": f"bench-{int(time.time())}",
            "CAREBRIDGE_CONFIG": str(write_test_config(Path(folder))), "CAREBRIDGE_VAR_DIR": folder,
            "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": "bench",
            "CAREPATRON_RATE_LIMIT": "1000000"})
        runtime = build_runtime(settings, mapper=NoMapper())
        upgrade(runtime.database)
        ids = []
        with runtime.database.write() as session:
            for n in range(args.records):
                outcome = runtime.repository.save(session, {
                    "resourceType": "Patient", "identifier": [{"system": "urn:bench", "value": str(n)}],
                    "name": [{"family": f"Bench{n}", "given": ["B"]}]})
                ids += [d.id for d in runtime.router.plan(session, [outcome], Source("bench", "ADT^A01"))]
        worker = runtime.queue.start_worker(args.concurrency)
        started = time.monotonic()
        runtime.queue.enqueue(ids)
        while True:
            with runtime.database.read() as session:
                done = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "delivered"))
            if done >= len(ids):
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        worker.stop()
        runtime.close()
        print(f"records={len(ids)} concurrency={args.concurrency} latency_ms={args.latency_ms} "
              f"database={'sqlite' if not args.database_url else 'postgresql'} seconds={elapsed:.2f} "
              f"deliveries_per_second={len(ids) / elapsed:.1f} requests={len(simulator.requests())}")


if __name__ == "__main__":
    main()
