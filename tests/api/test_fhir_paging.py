"""Searchset paging: absolute links on the base the client called, stable while others insert."""

from __future__ import annotations

from urllib.parse import urlsplit

from api.fhir_data import create, patient


def _link(bundle: dict, relation: str) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == relation), None)


def _get(client, url: str, **headers) -> dict:
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}", headers=headers).get_json()


def test_entries_carry_full_urls_and_search_modes(client):
    stored = create(client, patient())
    entry = client.get("/fhir/Patient").get_json()["entry"][0]
    assert entry["fullUrl"] == f"http://localhost/fhir/Patient/{stored['id']}"
    assert entry["search"] == {"mode": "match"}


def test_next_links_lead_through_every_match_once(client):
    created = {create(client, patient(mrn=str(n)))["id"] for n in range(7)}
    seen, bundle = [], client.get("/fhir/Patient?_count=3").get_json()
    while True:
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        if not _link(bundle, "next"):
            break
        bundle = _get(client, _link(bundle, "next"))
    assert sorted(seen) == sorted(created)


def test_previous_link_returns_to_the_page_before(client):
    for n in range(5):
        create(client, patient(mrn=str(n)))
    first = client.get("/fhir/Patient?_count=2").get_json()
    second = _get(client, _link(first, "next"))
    back = _get(client, _link(second, "previous"))
    assert [e["resource"]["id"] for e in back["entry"]] == [e["resource"]["id"] for e in first["entry"]]
    assert _link(first, "previous") is None


def test_pages_neither_skip_nor_repeat_while_others_insert(client):
    created = {create(client, patient(mrn=str(n)))["id"] for n in range(6)}
    bundle = client.get("/fhir/Patient?_count=2").get_json()
    seen = [e["resource"]["id"] for e in bundle["entry"]]
    while _link(bundle, "next"):
        create(client, patient(mrn="late"))  # another client inserts between pages
        bundle = _get(client, _link(bundle, "next"))
        seen += [e["resource"]["id"] for e in bundle["entry"]]
    assert sorted(seen) == sorted(created)


def test_links_are_absolute_on_the_forwarded_base(client):
    create(client, patient())
    create(client, patient(mrn="2"))
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ehr-gw.example", "X-Forwarded-Prefix": "/cb"}
    bundle = client.get("/fhir/Patient?_count=1", headers=headers).get_json()
    assert _link(bundle, "self").startswith("https://ehr-gw.example/cb/fhir/Patient?")
    assert _link(bundle, "next").startswith("https://ehr-gw.example/cb/fhir/Patient?")
    assert bundle["entry"][0]["fullUrl"].startswith("https://ehr-gw.example/cb/fhir/Patient/")
    # The proxy strips its prefix before the request reaches Carebridge.
    second = client.get(_link(bundle, "next").removeprefix("https://ehr-gw.example/cb"), headers=headers).get_json()
    assert _link(second, "previous").startswith("https://ehr-gw.example/cb/fhir/Patient?")


def test_a_tampered_cursor_is_400(client):
    assert client.get("/fhir/Patient?_cursor=not-a-cursor").status_code == 400


def test_a_resource_updated_while_a_client_pages_is_not_skipped(client):
    created = [create(client, patient(mrn=str(n))) for n in range(6)]
    bundle = client.get("/fhir/Patient?_count=2").get_json()
    seen = [e["resource"]["id"] for e in bundle["entry"]]
    # Another client updates a resource the walk has not reached yet.
    unseen = next(p for p in created if p["id"] not in seen)
    client.put(f"/fhir/Patient/{unseen['id']}", json={**patient(family="Updated"), "id": unseen["id"]})
    updated_in_walk = []
    while _link(bundle, "next"):
        bundle = _get(client, _link(bundle, "next"))
        seen += [e["resource"]["id"] for e in bundle["entry"]]
        updated_in_walk += [e["resource"] for e in bundle["entry"] if e["resource"]["id"] == unseen["id"]]
    assert sorted(seen) == sorted(p["id"] for p in created)
    assert [r["meta"]["versionId"] for r in updated_in_walk] == ["2"]


def test_a_resource_created_while_a_client_pages_is_left_out_even_when_updated(client):
    created = {create(client, patient(mrn=str(n)))["id"] for n in range(4)}
    bundle = client.get("/fhir/Patient?_count=2").get_json()
    seen = [e["resource"]["id"] for e in bundle["entry"]]
    late = create(client, patient(mrn="late"))
    client.put(f"/fhir/Patient/{late['id']}", json={**patient(family="Later"), "id": late["id"]})
    while _link(bundle, "next"):
        bundle = _get(client, _link(bundle, "next"))
        seen += [e["resource"]["id"] for e in bundle["entry"]]
    assert sorted(seen) == sorted(created)
