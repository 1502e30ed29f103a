"""MLLP throughput and ACK latency of a running Carebridge, beside python-hl7's parse-only rate.

Starts `carebridge serve` on the embedded default (or on PostgreSQL + Redis with --scaled),
sends ADT messages over several connections, and prints messages per second and AA
latency percentiles: each ACK means stored, mapped, written and committed. No destination
is configured, so delivery does not compete for the two cores. Prints figures, never asserts.

    .venv/bin/python benchmarks/mllp_throughput.py --messages 2000 --connections 8
    .venv/bin/python benchmarks/mllp_throughput.py --scaled postgresql://postgres@127.0.0.1/bench redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hl7
from hl7.client import MLLPClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.engine_process import start_engine  # noqa: E402
from support.hl7_messages import adt  # noqa: E402


def parse_only_rate(messages: list[bytes], seconds: float = 2.0) -> float:
    texts = [m.decode() for m in messages]
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        hl7.parse(texts[count % len(texts)])
        count += 1
    return count / (time.perf_counter() - start)


def send_batch(port: int, batch: list[bytes]) -> list[float]:
    latencies = []
    with MLLPClient("127.0.0.1", port) as client:
        for message in batch:
            start = time.perf_counter()
            reply = client.send_message(message)
            latencies.append(time.perf_counter() - start)
            if b"MSA|AA" not in reply:
                raise RuntimeError("a message was not accepted")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--scaled", nargs=2, metavar=("DATABASE_URL", "REDIS_URL"))
    args = parser.parse_args()

    messages = [adt("A08" if i % 3 else "A01", f"B{i}", mrn=f"{100000 + i % 500}", family=f"Family{i % 500}")
                for i in range(args.messages)]
    env: dict[str, str] = {}  # INFO logging, as in production
    if args.scaled:
        env.update(CAREBRIDGE_DATABASE_URL=args.scaled[0], CAREBRIDGE_BROKER_URL=args.scaled[1])
    with tempfile.TemporaryDirectory() as tmp:
        if args.scaled:
            import subprocess

            subprocess.run([sys.executable, "-m", "carebridge.cli", "db", "upgrade"], cwd=ROOT, check=True,
                           env={**__import__("os").environ, **env})
        engine = start_engine(Path(tmp), env)
        try:
            send_batch(engine.mllp_port, messages[:20])  # warm up
            batches = [messages[i::args.connections] for i in range(args.connections)]
            start = time.perf_counter()
            with ThreadPoolExecutor(args.connections) as pool:
                latencies = [t for batch in pool.map(lambda b: send_batch(engine.mllp_port, b), batches) for t in batch]
            elapsed = time.perf_counter() - start
        finally:
            engine.stop()
    latencies.sort()
    mode = "scaled (PostgreSQL + Redis)" if args.scaled else "embedded (SQLite, in-process queue)"
    print(f"mode: {mode}; {args.messages} ADT messages over {args.connections} connections")
    print(f"carebridge MLLP, stored+mapped+committed then AA: {args.messages / elapsed:8.1f} msg/s")
    print(f"  ACK latency ms: p50 {statistics.median(latencies) * 1000:.1f}  "
          f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f}  p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f}")
    print(f"python-hl7 parse only (same messages, same run):    {parse_only_rate(messages):8.1f} msg/s")


if __name__ == "__main__":
    main()
