"""OAuth2 client credentials for a destination that asks for a bearer token (a FHIR server
behind SMART Backend Services or any OAuth2 server): one token at a time, cached and fetched
again shortly before it expires, or at once when the server answers 401. The token and the
secret are never logged and never part of an error's text.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

#: A token is fetched again this long before its ``expires_in`` runs out (seconds), at most.
REFRESH_MARGIN_SECONDS = 60.0
#: A token's lifetime when the token endpoint does not say (seconds).
DEFAULT_LIFETIME_SECONDS = 300.0
#: How long the token endpoint may take to answer (seconds).
TOKEN_TIMEOUT_SECONDS = 15.0


class TokenUnavailable(requests.RequestException):
    """The token endpoint did not give a token; the delivery is tried again later."""


class ClientCredentials(requests.auth.AuthBase):
    """``auth=`` for requests: adds ``Authorization: Bearer`` with a token from ``token_url``.

    Example::

        auth = ClientCredentials("https://auth.example.org/token", "carebridge", secret, "system/*.write")
        session.request("PUT", url, auth=auth)
    """

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str | None = None,
                 timeout_seconds: float = TOKEN_TIMEOUT_SECONDS):
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self.timeout = timeout_seconds
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    @classmethod
    def from_options(cls, auth: dict[str, Any]) -> "ClientCredentials":
        return cls(auth["token_url"], auth["client_id"], auth["client_secret"], auth.get("scope"))

    def __repr__(self) -> str:  # never the secret or the token
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._renew_at:
                self._fetch()
            return self._token

    def forget(self) -> None:
        """Drop the cached token (the server refused it): the next request fetches a new one."""
        with self._lock:
            self._token = None

    def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        try:
            answer = requests.post(self.token_url, data=form, auth=(self.client_id, self._client_secret),
                                   headers={"Accept": "application/json"}, timeout=self.timeout,
                                   allow_redirects=False)
        except requests.RequestException as exc:
            raise TokenUnavailable(f"token endpoint unreachable ({type(exc).__name__})") from None
        if answer.status_code != 200:
            raise TokenUnavailable(f"token endpoint answered {answer.status_code}")
        try:
            body = answer.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME_SECONDS)
        except (ValueError, KeyError, TypeError):
            raise TokenUnavailable("token endpoint answered without an access_token") from None
        self._token = token
        self._renew_at = time.monotonic() + max(lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 10), 0.0)
