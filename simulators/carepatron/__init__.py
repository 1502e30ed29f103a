"""A Carepatron simulator: a real HTTP server implementing ``docs/carepatron-contract.md``.

It stands in for Carepatron in tests and demos, enforces the contract strictly (an unknown
field is a 422, so engine bugs surface), and can be told to fail in the ways the real
service may: scripted statuses, random 5xx, 429 bursts, latency before or after the state
changes, time-outs, and rejection of one kind until lifted.

In a test::

    from simulators.carepatron import CarepatronSimulator

    with CarepatronSimulator(api_key="test-key") as sim:
        sim.base_url                       # http://127.0.0.1:PORT/v1
        sim.faults.fail_next(3, status=503, method="POST", path="/clients")
        sim.records("clients")

From a shell, for demos (``--port 0`` picks a free port; the URL is printed)::

    python -m simulators.carepatron --port 9090 --api-key KEY [--rate-limit 60]

Another process drives it over HTTP under ``/_sim`` (``state``, ``records/<kind>``,
``requests``, ``faults``, ``rate-limit``, ``reset``): see :mod:`.control`.
"""

from .faults import Faults
from .server import CarepatronSimulator

__all__ = ["CarepatronSimulator", "Faults"]
