"""Reading an HTTP destination's answer: when to come back (``Retry-After``, ``X-RateLimit-Reset``),
which statuses are passing, and a one-line account of an error that carries no patient data.
"""

from __future__ import annotations

import email.utils
import time

import requests

#: Statuses that mean "try again later" besides 5xx.
RETRYABLE_STATUSES = frozenset({408, 425, 429})


def retry_after_seconds(response: requests.Response) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) or ``X-RateLimit-Reset`` (epoch seconds), if given."""
    value = response.headers.get("Retry-After")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                parsed = None
            if parsed is not None:
                return max(parsed.timestamp() - time.time(), 0.0)
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            reset_at = float(reset)
        except ValueError:
            return None
        # Some services send seconds until the reset rather than an epoch time.
        return max(reset_at - time.time(), 0.0) if reset_at > 1e9 else max(reset_at, 0.0)
    return None


def is_passing(status: int) -> bool:
    """Whether an error status is worth retrying (the same request may succeed later)."""
    return status >= 500 or status in RETRYABLE_STATUSES


def problem_text(response: requests.Response) -> str:
    """A one-line account of an error response: status, title, detail and field errors.

    Field errors name fields and the destination's messages, never the values sent.
    """
    text = f"HTTP {response.status_code}"
    try:
        problem = response.json()
    except ValueError:
        return f"{text} {response.reason or ''}".strip()
    if not isinstance(problem, dict):
        return text
    for key in ("title", "detail"):
        if problem.get(key):
            text += f": {problem[key]}"
    errors = problem.get("errors")
    if isinstance(errors, dict) and errors:
        text += " (" + "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                                 for k, v in errors.items()) + ")"
    if problem.get("resourceType") == "OperationOutcome":
        text += "".join(f": {i.get('diagnostics') or i.get('code')}" for i in problem.get("issue") or [])
    return text
