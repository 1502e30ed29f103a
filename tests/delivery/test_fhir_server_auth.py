"""A FHIR server behind OAuth2 client credentials: the destination gets a token from the token
endpoint (client_secret_basic), reuses it while it lives, fetches another before it expires or
when the server refuses it, and never writes the token or the secret into the sync log."""

from __future__ import annotations

import base64
import secrets
import time

import fhir_records as fr
from delivery_config import engine_config
from fhir_standin import create_fhir_standin
from flask import jsonify, request
from http_standin import Served
from test_carepatron_kinds import settle

from engine.db.models import Delivery, SyncLogEntry

CLIENT_ID, CLIENT_SECRET = "carebridge-hie", "cs-3f9a-not-for-logs"


def only(destination: str) -> list[dict]:
    return [{"name": "to-hie", "destinations": [destination], "match": {"resource_types": ["Patient"]}}]


def protected_standin(lifetime_seconds: float):
    """The FHIR stand-in behind a token endpoint; ``state`` counts tokens and holds the valid ones."""
    app, store = create_fhir_standin()
    state = {"issued": [], "valid": set(), "scopes": []}

    @app.post("/token")
    def token():
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected or request.form.get("grant_type") != "client_credentials":
            return jsonify(error="invalid_client"), 401
        issued = secrets.token_urlsafe(16)
        state["issued"].append(issued)
        state["valid"].add(issued)
        state["scopes"].append(request.form.get("scope"))
        return jsonify(access_token=issued, token_type="bearer", expires_in=lifetime_seconds)

    @app.before_request
    def bearer_only():
        if request.path == "/token":
            return None
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in state["valid"]:
            return jsonify(resourceType="OperationOutcome", issue=[{"severity": "error", "code": "login"}]), 401
        return None

    return app, store, state


def _destination(url: str) -> dict:
    return {"name": "hie", "type": "fhir", "base_url": url, "auth": {
        "token_url": f"{url}/token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "scope": "system/Patient.cu"}}


def test_one_token_serves_many_deliveries_while_it_lives(make_runtime, tmp_path):
    app, store, state = protected_standin(lifetime_seconds=3600)
    with Served(app) as server:
        runtime = make_runtime(engine_config(tmp_path, extra_destinations=[_destination(server.url)],
                                             routes=only("hie")))
        ids = []
        for n in range(3):
            ids += fr.write(runtime, fr.patient(f"AUTH-{n}"))[1]
        settle(runtime, ids)
    assert len(store["Patient"]) == 3
    assert len(state["issued"]) == 1 and state["scopes"] == ["system/Patient.cu"]


def test_a_refused_token_is_replaced_and_the_delivery_goes_through(make_runtime, tmp_path):
    app, store, state = protected_standin(lifetime_seconds=3600)
    with Served(app) as server:
        runtime = make_runtime(engine_config(tmp_path, extra_destinations=[_destination(server.url)],
                                             routes=only("hie")))
        settle(runtime, fr.write(runtime, fr.patient("AUTH-A"))[1])
        state["valid"].clear()  # the server revokes every token it gave
        _, ids = fr.write(runtime, fr.patient("AUTH-B"))
        [delivery] = settle(runtime, ids)
    assert delivery.status == "delivered"
    assert len(state["issued"]) == 2 and len(store["Patient"]) == 2
    with runtime.database.read() as session:
        details = " ".join(str(row.details) for row in session.query(SyncLogEntry).all())
        errors = " ".join(str(d.last_error) for d in session.query(Delivery).all())
    assert "access token" in details + errors
    for secret in [CLIENT_SECRET, *state["issued"]]:
        assert secret not in details and secret not in errors


def test_a_token_is_fetched_again_before_it_expires(make_runtime, tmp_path):
    app, store, state = protected_standin(lifetime_seconds=0.5)
    with Served(app) as server:
        runtime = make_runtime(engine_config(tmp_path, extra_destinations=[_destination(server.url)],
                                             routes=only("hie")))
        settle(runtime, fr.write(runtime, fr.patient("AUTH-C"))[1])
        time.sleep(0.6)
        settle(runtime, fr.write(runtime, fr.patient("AUTH-D"))[1])
    assert len(state["issued"]) == 2 and len(store["Patient"]) == 2
