"""Errors the simulator answers, as ``application/problem+json`` documents."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, json

#: Media type of every error body.
PROBLEM_MEDIA_TYPE = "application/problem+json"

#: Prefix of the stable ``type`` URI of each problem; the suffix is the problem's code.
PROBLEM_TYPE_BASE = "https://carepatron-simulator.invalid/problems/"


class Problem(Exception):
    """An error answer: raise it anywhere in a request and the app turns it into a response.

    >>> raise Problem(422, "validation-failed", "The body is not valid.", errors={"sex": ["..."]})
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or {}
        self.headers = headers or {}
        self.extensions = extensions

    def body(self) -> dict[str, Any]:
        return {
            "type": PROBLEM_TYPE_BASE + self.code,
            "title": _title(self.status),
            "status": self.status,
            "detail": self.detail,
            "errors": self.errors,
            **self.extensions,
        }

    def response(self) -> Response:
        return Response(
            json.dumps(self.body()),
            status=self.status,
            headers=self.headers,
            mimetype=PROBLEM_MEDIA_TYPE,
        )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a fault may script any status, even one HTTP does not name
        return "Error"
