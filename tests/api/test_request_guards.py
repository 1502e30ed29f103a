"""Every HTTP request names a host the engine serves, and a browser's state-changing request
comes from the engine's own origin: a foreign ``Host:`` (DNS rebinding) and a cross-site POST
(CSRF) are refused before any view runs."""

from __future__ import annotations

import pytest

from carebridge.app import create_app


def test_a_foreign_host_header_is_refused_on_a_loopback_engine(client):
    refused = client.get("/fhir/Patient", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert refused.get_json(force=True)["issue"][0]["details"]["coding"][0]["code"] == "host-not-allowed"
    assert client.get("/admin/api/messages", headers={"Host": "evil.example:8080"}).status_code == 400
    assert client.get("/fhir/Patient", headers={"Host": "127.0.0.1:8080"}).status_code == 200
    assert client.get("/fhir/Patient", headers={"Host": "[::1]:8080"}).status_code == 200


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"}])
def test_a_cross_site_post_is_refused(client, headers):
    response = client.post("/admin/api/deliveries/retry", data="{}", content_type="text/plain", headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"] == "cross-origin-refused"


def test_a_post_from_the_engines_own_origin_or_from_an_api_client_passes(client):
    same_origin = client.post("/fhir/Patient", json={"resourceType": "Patient"},
                              headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert same_origin.status_code == 201
    assert client.post("/fhir/Patient", json={"resourceType": "Patient"}).status_code == 201


def test_allowed_hosts_names_the_hosts_served(runtime):
    runtime.settings.environ["CAREBRIDGE_ALLOWED_HOSTS"] = "carebridge.example.org"
    client = create_app(runtime).test_client()
    assert client.get("/fhir/Patient", headers={"Host": "carebridge.example.org:8443"}).status_code == 200
    assert client.get("/fhir/Patient", headers={"Host": "localhost"}).status_code == 400
