"""Prints mapping throughput (messages per second) per message type beside python-hl7's
parse-only rate on the same messages, in the same run. Prints figures; never asserts.

    python benchmarks/mapping_throughput.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import hl7

from mappings.mapper import Mapper
from mappings.v2.header import decode_message, read_header

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "mappings" / "golden"


def rate(work, seconds: float) -> float:
    """Calls of ``work`` per second over about ``seconds``."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        work()
        count += 1
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent on each measurement")
    args = parser.parse_args()
    mapper = Mapper.from_directories(configs_dir=REPO / "mappings" / "configs",
                                     authority_systems={"HOSP": "urn:oid:1.2.36.146.595.217.0.1"})
    by_type: dict[str, list[bytes]] = {}
    for path in sorted(SAMPLES.glob("*.hl7")):
        raw = path.read_bytes()
        by_type.setdefault(read_header(raw).message_type, []).append(raw)
    print(f"{'message type':<14}{'mapped msg/s':>14}{'parse-only msg/s':>18}{'ratio':>8}")
    for message_type, messages in sorted(by_type.items()):
        texts = [decode_message(m) for m in messages]
        index = [0]

        def map_one():
            index[0] += 1
            mapper.map(messages[index[0] % len(messages)])

        def parse_one():
            index[0] += 1
            hl7.parse(texts[index[0] % len(texts)])

        mapped, parsed = rate(map_one, args.seconds), rate(parse_one, args.seconds)
        print(f"{message_type:<14}{mapped:>14,.0f}{parsed:>18,.0f}{parsed / mapped:>7.1f}x")


if __name__ == "__main__":
    main()
