"""A destination that answers with a redirect never gets it followed: the server it points to
never hears of the delivery (not the API key, not the patient), and the delivery is parked as
failed with a reason naming the status and the origin only."""

from __future__ import annotations

import pytest
from delivery import fhir_records as fr
from delivery.delivery_config import engine_config
from delivery.http_standin import Served
from flask import Flask, redirect, request

from connectors.outbound.redirects import location_origin
from engine.db.models import Delivery
from support.config import TEST_API_KEY
from support.engine_process import wait_until


def elsewhere(calls: list) -> Flask:
    """Another server, which records every request that reaches it."""
    app = Flask("elsewhere")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE"])
    def record(path):
        calls.append((request.method, path, dict(request.headers), request.get_data()))
        return {"items": [], "id": "stolen"}, 200

    return app


def redirecting(target: str, status: int = 307) -> Flask:
    """A destination that sends every request on to ``target``, path and query kept."""
    app = Flask("redirecting")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE"])
    def send_on(path):
        query = f"?{request.query_string.decode()}" if request.query_string else ""
        return redirect(f"{target}/{path}{query}", code=status)

    return app


def settled(runtime, ids: list[int]) -> list[Delivery]:
    def done():
        with runtime.database.read() as session:
            found = [session.get(Delivery, i) for i in ids]
        return found if all(d.status in ("delivered", "failed") for d in found) else None

    return wait_until(done, message="the deliveries to settle")


def only(destination: str) -> list[dict]:
    return [{"name": f"to-{destination}", "match": {"resource_types": ["Patient"]}, "destinations": [destination]}]


@pytest.mark.parametrize("status", [307, 301])
def test_carepatron_redirect_to_another_server_is_refused_and_the_delivery_parked(make_runtime, tmp_path, status):
    calls: list = []
    with Served(elsewhere(calls)) as thief, Served(redirecting(thief.url, status)) as carepatron:
        runtime = make_runtime(engine_config(tmp_path, routes=only("carepatron")),
                               CAREPATRON_BASE_URL=carepatron.url + "/v1")
        _, ids = fr.write(runtime, fr.patient("R-1", family="Redirectperson"))
        [delivery] = settled(runtime, ids)
    assert calls == []
    assert delivery.status == "failed"
    port = thief.url.rsplit(":", 1)[1]
    assert f"HTTP {status} redirect to http://127.0.0.1:{port} refused: redirects are never followed" \
        in delivery.last_error
    assert "Redirectperson" not in delivery.last_error and "externalId" not in delivery.last_error
    assert TEST_API_KEY not in delivery.last_error


@pytest.mark.parametrize("kind", ["fhir", "webhook"])
def test_fhir_server_and_webhook_redirects_are_refused_and_the_delivery_parked(make_runtime, tmp_path, kind):
    calls: list = []
    with Served(elsewhere(calls)) as thief, Served(redirecting(thief.url)) as destination:
        options = {"base_url": destination.url} if kind == "fhir" else {"url": destination.url + "/hook",
                                                                         "secret": "whsec-redirect"}
        runtime = make_runtime(engine_config(tmp_path, extra_destinations=[{"name": "other", "type": kind, **options}],
                                             routes=only("other")))
        _, ids = fr.write(runtime, fr.patient("R-2"))
        [delivery] = settled(runtime, ids)
    assert calls == []
    assert delivery.status == "failed"
    assert "HTTP 307 redirect to http://127.0.0.1:" in delivery.last_error


def test_location_is_reduced_to_its_origin():
    assert location_origin("https://user:pw@Other.example:8443/v1/clients?name=Ada", "https://api.example/v1") \
        == "https://other.example:8443"
    assert location_origin("/v2/clients?birthDate=1980-02-14", "https://api.example:9443/v1/clients") \
        == "https://api.example:9443"
    assert location_origin("http://[::1]:8080/x", None) == "http://[::1]:8080"
    assert location_origin(None, "https://api.example") == "(no Location)"
    assert location_origin("http://host:notaport/x", None) == "(an unreadable Location)"
