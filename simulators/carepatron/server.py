"""A real threaded HTTP server running the simulator, and the Python API tests drive it by.

>>> with CarepatronSimulator(api_key="test-key") as sim:
...     requests.get(sim.base_url + "/ping")
...     sim.faults.fail_next(3, status=503, method="POST", path="/clients")
...     sim.records("clients")
"""

from __future__ import annotations

import threading
import time
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app
from .faults import Faults
from .simulation import BASE_PATH, CONTROL_PATH, Simulation

#: How long ``wait_for_in_flight`` waits by default, in seconds.
DEFAULT_WAIT_SECONDS = 5.0


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug logs every request line, query string included; query values can be PHI."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class CarepatronSimulator:
    """Carepatron's API on 127.0.0.1, on an ephemeral port unless ``port`` is given."""

    def __init__(
        self,
        api_key: str = "test-key",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = None,
    ) -> None:
        self.simulation = Simulation(api_key=api_key)
        self.simulation.rate_limiter.per_minute = rate_limit
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> CarepatronSimulator:
        self.simulation.stopping.clear()
        self._server = make_server(
            self._host, self._port, create_app(self.simulation),
            threaded=True, request_handler=_QuietRequestHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="carepatron-simulator", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests held by a latency or time-out fault are let go at once."""
        if self._server is None:
            return
        self.simulation.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None

    def __enter__(self) -> CarepatronSimulator:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.server_port

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Where the engine points its Carepatron destination, e.g. ``http://127.0.0.1:PORT/v1``."""
        return self.root_url + BASE_PATH

    @property
    def control_url(self) -> str:
        return self.root_url + CONTROL_PATH

    @property
    def faults(self) -> Faults:
        return self.simulation.faults

    @property
    def rate_limit(self) -> int | None:
        return self.simulation.rate_limiter.per_minute

    @rate_limit.setter
    def rate_limit(self, per_minute: int | None) -> None:
        self.simulation.rate_limiter.per_minute = per_minute

    @property
    def in_flight(self) -> int:
        """Requests under ``/v1`` received and not yet answered."""
        return self.simulation.traffic.in_flight

    def records(self, kind: str) -> list[dict[str, Any]]:
        """Stored records of one kind (``clients``, ``team-members``, ``appointments``,
        ``notes``, ``files``, ``invoices``), oldest first."""
        return self.simulation.store.records(kind)

    def file_content(self, file_id: str) -> bytes:
        return self.simulation.store.content(file_id)

    def requests(self) -> list[dict[str, Any]]:
        """The request log: method, path, query parameter names, idempotency key, attempt tag, status
        (None when the connection was dropped), time and duration; never a body or a key."""
        return self.simulation.traffic.requests()

    def wait_for_in_flight(self, count: int = 1, timeout: float = DEFAULT_WAIT_SECONDS) -> None:
        """Block until at least ``count`` requests are being processed."""
        deadline = time.monotonic() + timeout
        while self.in_flight < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} requests in flight after {timeout} s")
            time.sleep(0.01)

    def reset(self) -> None:
        """Forget records, faults, idempotency replays, rate counts and the request log."""
        self.simulation.reset()
