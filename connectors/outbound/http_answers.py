"""Reading an HTTP destination's answer: when to come back (``Retry-After``, ``X-RateLimit-Reset``),
which statuses are passing, and a one-line account of an error that carries no patient data
(what the destination quotes back goes through :func:`engine.delivery.redaction.redact`).
"""

from __future__ import annotations

import email.utils
import functools
import json
import re
import time
from http import HTTPStatus
from typing import Any, Callable

import requests

from engine.delivery.redaction import redact as redact_text

#: Statuses that mean "try again later" besides 5xx.
RETRYABLE_STATUSES = frozenset({408, 425, 429})
#: Most fields named in one account of an error; the rest are counted.
MAX_FIELDS = 10
#: An error code or a field name as the destination's structure gives it: kept as it is.
_TOKEN = re.compile(r"[A-Za-z0-9_$][\w$.:/\[\]-]{0,99}")
#: Keys whose values are codes of the format, not data: left out of the values an answer may quote.
FORMAT_KEYS = frozenset({"resourceType", "system", "use", "status", "gender", "sex", "currency", "contentType"})
#: Largest request body whose values are looked for in an error answer (bytes).
MAX_SCANNED_BODY = 1024 * 1024


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
    """A one-line account of an error answer an operator may see, without the values the destination quotes.

    Built from the answer's structure: the status, its error code (``code``, ``error``, or the last
    segment of a problem's ``type``), and the fields at fault: the keys of ``errors``/``fieldErrors``
    (Carepatron's problem+json and most validation errors) or an OperationOutcome's ``expression``,
    with each issue's code. Free text (``detail``, ``message``, the fields' messages, ``diagnostics``)
    is added only through :func:`engine.delivery.redaction.redact`::

        HTTP 422 validation-failed: client email <email> already exists (email: is already in use)
    """
    status = response.status_code
    head = f"HTTP {status}"
    known = _sent_values(response.request)
    redact = functools.partial(redact_text, known=known)
    try:
        problem = response.json()
    except ValueError:
        reason = response.reason or ""
        return f"{head} {reason if reason == _phrase(status) else redact(reason)}".strip()
    if not isinstance(problem, dict):
        return head
    if problem.get("resourceType") == "OperationOutcome":
        issues = [_issue_text(i, redact, known) for i in (problem.get("issue") or [])[:MAX_FIELDS]
                  if isinstance(i, dict)]
        return head + (": " + "; ".join(i for i in issues if i) if any(issues) else "")
    code = _code_of(problem)
    text = head + (f" {code}" if code else "")
    said = [redact(v) for v in _messages(problem, status) if v]
    if said:
        text += ": " + ": ".join(said)
    fields = _field_errors(problem, redact, known)
    if fields:
        text += " (" + "; ".join(fields) + ")"
    return text


def _sent_values(request: requests.PreparedRequest | None) -> set[str]:
    """The text values of a JSON request body, and their words: what an error answer may quote back.

    Codes of the format itself (``resourceType``, ``system``, ``use``) are left out, so that an
    answer saying "email is taken" keeps the word ``email``.
    """
    body = getattr(request, "body", None)
    if not isinstance(body, (bytes, str)) or not body or len(body) > MAX_SCANNED_BODY:
        return set()  # none, a stream, or too large to read through
    try:
        data = json.loads(body)
    except (TypeError, ValueError, UnicodeDecodeError):
        return set()  # a form or a file: nothing to read values from
    found: set[str] = set()

    def walk(node: Any, key: str | None = None) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key not in FORMAT_KEYS and 2 <= len(node) <= 200:
            found.add(node)
            found.update(w for w in re.findall(r"[^\W_][\w'’-]+", node) if len(w) >= 3)

    walk(data)
    return found


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _token(value: object, known: set[str] = frozenset()) -> str:
    """A code or field name: kept when it looks like one and is no value sent, else redacted (it may quote one)."""
    text = str(value).strip()
    if _TOKEN.fullmatch(text) and "@" not in text and sum(c.isdigit() for c in text) < 3 and text not in known:
        return text
    return redact_text(text, known)


def _code_of(problem: dict[str, Any]) -> str | None:
    for key in ("code", "error", "errorCode", "error_code"):
        value = problem.get(key)
        if isinstance(value, dict):
            value = value.get("code")
        if isinstance(value, (str, int)) and not isinstance(value, bool) and _TOKEN.fullmatch(str(value)):
            return str(value)
    kind = problem.get("type")
    if isinstance(kind, str) and kind not in ("", "about:blank"):
        last = kind.rstrip("/").rsplit("/", 1)[-1].split("#")[-1]
        if _TOKEN.fullmatch(last):
            return last
    return None


def _messages(problem: dict[str, Any], status: int) -> list[str]:
    """The free text of an answer: a title other than the status's own phrase, then the detail or message."""
    texts = []
    title = problem.get("title")
    if isinstance(title, str) and title.strip() and title.strip() != _phrase(status):
        texts.append(title)
    error = problem.get("error")
    for value in (problem.get("detail"), problem.get("message"), problem.get("error_description"),
                  error.get("message") if isinstance(error, dict) else error):
        if isinstance(value, str) and value.strip() and value not in texts and not (
                value is error and _TOKEN.fullmatch(value)):  # a bare ``error`` is the code, shown already
            texts.append(value)
    return texts


def _field_errors(problem: dict[str, Any], redact: Callable[[str], str], known: set[str]) -> list[str]:
    """``field: message`` for each field at fault, whether given as a map or a list of objects."""
    found: list[tuple[str, str]] = []
    for key in ("errors", "fieldErrors", "field_errors", "validationErrors", "invalid_params", "invalid-params"):
        errors = problem.get(key)
        if isinstance(errors, dict):
            for field, said in errors.items():
                said = said if isinstance(said, list) else [said]
                found.append((_token(field, known), ", ".join(redact(m) for m in said if isinstance(m, (str, int)))))
        elif isinstance(errors, list):
            for entry in errors:
                if isinstance(entry, dict):
                    field = next((entry[k] for k in ("field", "name", "path", "property", "pointer", "param")
                                  if isinstance(entry.get(k), (str, list)) and entry.get(k)), None)
                    if field is None and isinstance(entry.get("source"), dict):
                        field = entry["source"].get("pointer") or entry["source"].get("parameter")
                    field = ".".join(map(str, field)) if isinstance(field, list) else field
                    said = next((entry[k] for k in ("message", "detail", "reason", "code")
                                 if isinstance(entry.get(k), str)), "")
                    found.append((_token(field, known) if field else "", redact(said)))
    shown = [f"{field}: {said}" if field and said else field or said for field, said in found if field or said]
    extra = len(shown) - MAX_FIELDS
    return shown[:MAX_FIELDS] + ([f"{extra} more"] if extra > 0 else [])


def _issue_text(issue: dict[str, Any], redact: Callable[[str], str], known: set[str]) -> str:
    """An OperationOutcome issue: its code, the elements it names, and its diagnostics redacted."""
    where = issue.get("expression") or issue.get("location") or []
    where = [_token(w, known) for w in (where if isinstance(where, list) else [where])[:MAX_FIELDS] if w]
    details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
    codes = [c.get("code") for c in details.get("coding") or [] if isinstance(c, dict) and c.get("code")]
    said = issue.get("diagnostics") or details.get("text")
    parts = [_token(issue["code"]) if issue.get("code") else "", *(_token(c) for c in codes[:2])]
    text = " ".join(p for p in parts if p)
    if where:
        text += f" at {', '.join(where)}"
    if isinstance(said, str) and said.strip():
        text += f": {redact(said)}"
    return text.strip()
