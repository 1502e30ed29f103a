"""Run the Carepatron simulator from a shell: ``python -m simulators.carepatron --help``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import CarepatronSimulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.carepatron",
        description="Serve a Carepatron API simulator on 127.0.0.1 for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--api-key", required=True, help="the key clients send in cp-api-key")
    parser.add_argument(
        "--rate-limit", type=int, default=None, metavar="PER_MINUTE",
        help="requests a minute per key before 429 (default: no limit)",
    )
    options = parser.parse_args(argv)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    simulator = CarepatronSimulator(
        options.api_key, host=options.host, port=options.port, rate_limit=options.rate_limit
    )
    with simulator:
        print(f"Carepatron simulator on {simulator.base_url} (controls: {simulator.control_url})",
              flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
