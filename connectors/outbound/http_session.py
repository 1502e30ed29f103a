"""The HTTP sessions outbound connectors call through: one ``requests.Session`` per worker
thread (a session is not safe to share between threads), each with the destination's headers
and Carebridge's ``User-Agent``, so connections are kept alive between deliveries.

No session follows a redirect: requests would resend the destination's headers (an API key)
and a 307's body (patient data) to wherever ``Location`` points. Connectors pass
``allow_redirects=False`` and answer a 3xx as a rejection (``redirects.py``); should a call
forget it, the session still finds no redirect target to go to.
"""

from __future__ import annotations

import threading

import requests

#: The ``User-Agent`` of every outbound request.
USER_AGENT = "Carebridge"


class NoRedirectSession(requests.Session):
    """A session that sees no redirect target in any answer, so it never follows one."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


class ThreadSessions:
    """A session per thread for one destination.

    Example::

        sessions = ThreadSessions({"Accept": "application/fhir+json"})
        sessions.get().request("GET", url, timeout=30, allow_redirects=False)
    """

    def __init__(self, headers: dict[str, str]):
        self.headers = {"User-Agent": USER_AGENT, **headers}
        self._local = threading.local()

    def get(self) -> requests.Session:
        """This thread's session, made on first use."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = NoRedirectSession()
            session.headers.update(self.headers)
        return session
