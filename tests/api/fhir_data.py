"""Fictional resources and small request steps the FHIR API tests share."""

from __future__ import annotations

#: A fictional identifier system for test patients.
SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def patient(family: str = "Testperson", given: str = "Ada", mrn: str = "100001", **extra) -> dict:
    """A fictional Patient."""
    return {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": mrn}],
            "name": [{"family": family, "given": [given]}], **extra}


def create(client, resource: dict, **headers) -> dict:
    """POST a resource; returns the stored resource."""
    response = client.post(f"/fhir/{resource['resourceType']}", json=resource, headers=headers)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def search_ids(client, query: str) -> set[str]:
    bundle = client.get(f"/fhir/{query}").get_json()
    return {e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"}
