"""Runs a small WSGI app (a webhook receiver, a FHIR server stand-in) on a real loopback port."""

from __future__ import annotations

import threading

from werkzeug.serving import make_server


class Served:
    """``with Served(app) as server: server.url``"""

    def __init__(self, app):
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> "Served":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
