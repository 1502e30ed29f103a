"""The HTTP sessions outbound connectors call through: one ``requests.Session`` per worker
thread (a session is not safe to share between threads), each with the destination's headers
and Carebridge's ``User-Agent``, so connections are kept alive between deliveries.
"""

from __future__ import annotations

import threading

import requests

#: The ``User-Agent`` of every outbound request.
USER_AGENT = "Carebridge"


class ThreadSessions:
    """A session per thread for one destination.

    Example::

        sessions = ThreadSessions({"Accept": "application/fhir+json"})
        sessions.get().request("GET", url, timeout=30)
    """

    def __init__(self, headers: dict[str, str]):
        self.headers = {"User-Agent": USER_AGENT, **headers}
        self._local = threading.local()

    def get(self) -> requests.Session:
        """This thread's session, made on first use."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers.update(self.headers)
        return session
