"""Redirects from a destination are refused, never followed: requests would resend the
destination's headers (an API key) and a 307's body (patient data) to wherever ``Location``
points. Every outbound request passes ``allow_redirects=False``, and a 3xx answer becomes a
rejection whose reason names the status and the origin it pointed to, nothing more.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests


def redirect_refusal(response: requests.Response) -> str | None:
    """Why a redirect (any 3xx answer) is refused, or ``None`` for another answer. The reason names
    ``Location``'s origin only: its path and query may carry patient data.

    Example: ``HTTP 307 redirect to https://elsewhere.example refused: redirects are never followed``.
    """
    if not 300 <= response.status_code < 400:
        return None
    origin = location_origin(response.headers.get("Location"), response.url)
    return f"HTTP {response.status_code} redirect to {origin} refused: redirects are never followed"


def location_origin(location: str | None, request_url: str | None) -> str:
    """``scheme://host[:port]`` of a ``Location`` (read relative to the request's URL), without user info."""
    if not location:
        return "(no Location)"
    try:
        parts = urlsplit(urljoin(request_url or "", location.strip()))
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(an unreadable Location)"
    if not host or not parts.scheme:
        return "(an unreadable Location)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
