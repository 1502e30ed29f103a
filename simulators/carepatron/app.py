"""The simulator's Flask app: the contract under ``/v1``, the controls under ``/_sim``.

Around every ``/v1`` request, in this order: faults of the ``before`` phase, the API key,
the rate limit, the endpoint, then faults of the ``after`` phase.
"""

from __future__ import annotations

import hmac
import socket

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from . import api, control
from .faults import Outcome
from .problems import Problem
from .simulation import BASE_PATH, CONTROL_PATH, Simulation
from .traffic import DROPPED_KEY

#: Room for the multipart envelope and the other parts around a largest file.
MULTIPART_ALLOWANCE = 1024 * 1024


def create_app(sim: Simulation) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = api.MAX_FILE_BYTES + MULTIPART_ALLOWANCE
    app.extensions["carepatron_simulator"] = sim
    app.register_blueprint(api.blueprint, url_prefix=BASE_PATH)
    app.register_blueprint(control.blueprint, url_prefix=CONTROL_PATH)
    app.wsgi_app = sim.traffic.wrap(app.wsgi_app)  # type: ignore[method-assign]

    @app.before_request
    def before_endpoint() -> Response | None:
        if not _in_api():
            return None
        answer = _apply(sim, sim.faults.decide("before", *_fault_subject()))
        if answer is not None:
            g.faulted = True
            return answer
        if request.endpoint == "api.ping":
            return None
        key = _authenticate(sim.api_key)
        retry_after = sim.rate_limiter.admit(key)
        if retry_after is not None:
            raise Problem(
                429, "rate-limited", f"More than {sim.rate_limiter.per_minute} requests a minute.",
                headers={"Retry-After": str(retry_after)},
            )
        return None

    @app.after_request
    def after_endpoint(response: Response) -> Response:
        if not _in_api() or g.get("faulted"):
            return response
        return _apply(sim, sim.faults.decide("after", *_fault_subject())) or response

    @app.errorhandler(Problem)
    def problem(error: Problem) -> Response:
        return error.response()

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | HTTPException:
        if not _in_api():
            return error
        code = (error.name or "error").lower().replace(" ", "-")
        return Problem(error.code or 500, code, error.description or "").response()

    return app


def _in_api() -> bool:
    return request.path == BASE_PATH or request.path.startswith(BASE_PATH + "/")


def _fault_subject() -> tuple[str, str, str | None]:
    kind = (request.view_args or {}).get("kind")
    return request.method, request.path[len(BASE_PATH):], kind


def _authenticate(expected: str) -> str:
    given = request.headers.get("cp-api-key")
    if not given:
        raise Problem(401, "missing-api-key", "Send the API key in the cp-api-key header.")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Problem(401, "invalid-api-key", "The cp-api-key header holds no valid key.")
    return given


def _apply(sim: Simulation, outcome: Outcome) -> Response | None:
    """Carry out a fault decision: hold, then answer a status or close without answering."""
    if outcome.delay:
        sim.stopping.wait(outcome.delay)
    if outcome.drop:
        return _drop_connection()
    if outcome.status is not None:
        return Problem(
            outcome.status, "injected-fault", outcome.detail, headers=outcome.headers
        ).response()
    return None


def _drop_connection() -> Response:
    request.environ[DROPPED_KEY] = True
    connection = request.environ.get("werkzeug.socket")
    if connection is not None:
        try:
            connection.shutdown(socket.SHUT_RDWR)
        except OSError:  # the client left first
            pass
    # Never reaches the client: writing to the closed socket ends the exchange.
    return Response(status=504)
