"""What the simulator was asked: a log of requests and the count of requests in flight.

The log keeps method, path, query parameter names, status and timing; never a body, a
query value or the API key, since those carry patient data and secrets.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

#: Set in the WSGI environ by the app when it closed the connection without answering.
DROPPED_KEY = "carepatron_simulator.dropped"


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Traffic:
    """Logs and counts the requests under ``prefix`` of the WSGI app it wraps."""

    def __init__(self, prefix: str = "/v1") -> None:
        self.prefix = prefix
        self._lock = threading.Lock()
        self._log: list[dict[str, Any]] = []
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._log]

    def clear(self) -> None:
        with self._lock:
            self._log.clear()

    def wrap(self, app: WSGIApp) -> WSGIApp:
        return lambda environ, start_response: self._record(app, environ, start_response)

    def _record(self, app: WSGIApp, environ: dict[str, Any], start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(self.prefix):
            return app(environ, start_response)
        started = time.monotonic()
        entry: dict[str, Any] = {
            "method": environ["REQUEST_METHOD"],
            "path": path,
            "query": sorted({name for name, _ in parse_qsl(environ.get("QUERY_STRING", ""))}),
            "idempotencyKey": environ.get("HTTP_IDEMPOTENCY_KEY"),
            # The caller's own request tag (Carebridge names delivery and attempt), when it sends one.
            "attempt": environ.get("HTTP_X_CAREBRIDGE_ATTEMPT"),
            "status": None,
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "durationMs": None,
        }

        answered = False

        def answer(status: int | None) -> None:
            # Done as the answer starts, so a caller that has it finds it logged.
            nonlocal answered
            if answered:
                return
            answered = True
            entry["status"] = None if environ.get(DROPPED_KEY) else status
            entry["durationMs"] = round((time.monotonic() - started) * 1000, 1)
            with self._lock:
                self._in_flight -= 1
                self._log.append(entry)

        def recording_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            answer(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        with self._lock:
            self._in_flight += 1
        try:
            return app(environ, recording_start_response)
        except BaseException:
            answer(None)
            raise
