"""Create, read, vread, update, delete and history, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from email.utils import format_datetime

from api.fhir_data import create, patient


def test_create_answers_201_with_location_etag_and_server_managed_meta(client):
    response = client.post("/fhir/Patient", json={**patient(), "id": "client-chosen"})
    body = response.get_json()
    assert response.status_code == 201
    assert body["id"] != "client-chosen"
    assert body["meta"]["versionId"] == "1" and body["meta"]["lastUpdated"]
    assert response.headers["Location"] == f"http://localhost/fhir/Patient/{body['id']}/_history/1"
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Last-Modified"].endswith("GMT")


def test_application_json_is_accepted_as_well_as_fhir_json(client):
    response = client.post("/fhir/Patient", data='{"resourceType": "Patient"}', content_type="application/json")
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/fhir+json")


def test_read_returns_the_current_version_with_its_etag(client):
    stored = create(client, patient())
    response = client.get(f"/fhir/Patient/{stored['id']}")
    assert response.status_code == 200
    assert response.get_json() == stored
    assert response.headers["ETag"] == 'W/"1"'


def test_read_of_an_unknown_id_is_404(client):
    response = client.get("/fhir/Patient/nobody")
    assert response.status_code == 404
    assert response.get_json()["issue"][0]["details"]["coding"][0]["code"] == "unknown-resource"


def test_read_of_a_deleted_resource_is_410(client):
    stored = create(client, patient())
    assert client.delete(f"/fhir/Patient/{stored['id']}").status_code == 200
    response = client.get(f"/fhir/Patient/{stored['id']}")
    assert response.status_code == 410
    assert response.get_json()["resourceType"] == "OperationOutcome"


def test_vread_returns_an_old_version(client):
    stored = create(client, patient())
    client.put(f"/fhir/Patient/{stored['id']}", json={**patient(family="Renamed"), "id": stored["id"]})
    old = client.get(f"/fhir/Patient/{stored['id']}/_history/1")
    assert old.status_code == 200
    assert old.get_json()["name"][0]["family"] == "Testperson"
    assert client.get(f"/fhir/Patient/{stored['id']}/_history/9").status_code == 404


def test_update_makes_a_new_version(client):
    stored = create(client, patient())
    response = client.put(f"/fhir/Patient/{stored['id']}", json={**patient(family="Renamed"), "id": stored["id"]})
    assert response.status_code == 200
    assert response.get_json()["meta"]["versionId"] == "2"
    assert response.headers["ETag"] == 'W/"2"'


def test_update_with_a_new_client_id_creates_the_resource(client):
    response = client.put("/fhir/Patient/ehr-42", json={**patient(), "id": "ehr-42"})
    assert response.status_code == 201
    assert client.get("/fhir/Patient/ehr-42").get_json()["id"] == "ehr-42"


def test_update_whose_body_id_differs_from_the_url_is_400(client):
    response = client.put("/fhir/Patient/one", json={**patient(), "id": "other"})
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["details"]["coding"][0]["code"] == "id-mismatch"


def test_update_with_a_stale_if_match_is_412(client):
    stored = create(client, patient())
    client.put(f"/fhir/Patient/{stored['id']}", json={**patient(family="Second"), "id": stored["id"]})
    response = client.put(f"/fhir/Patient/{stored['id']}", json={**patient(family="Third"), "id": stored["id"]},
                          headers={"If-Match": 'W/"1"'})
    assert response.status_code == 412
    assert client.get(f"/fhir/Patient/{stored['id']}").get_json()["name"][0]["family"] == "Second"


def test_update_with_the_current_if_match_succeeds(client):
    stored = create(client, patient())
    response = client.put(f"/fhir/Patient/{stored['id']}", json={**patient(family="Next"), "id": stored["id"]},
                          headers={"If-Match": 'W/"1"'})
    assert response.status_code == 200


def test_delete_is_recorded_in_the_instance_history(client):
    stored = create(client, patient())
    client.delete(f"/fhir/Patient/{stored['id']}")
    history = client.get(f"/fhir/Patient/{stored['id']}/_history").get_json()
    assert history["type"] == "history" and history["total"] == 2
    assert [e["request"]["method"] for e in history["entry"]] == ["DELETE", "POST"]
    assert "resource" not in history["entry"][0]


def test_instance_history_lists_versions_newest_first(client):
    stored = create(client, patient())
    client.put(f"/fhir/Patient/{stored['id']}", json={**patient(family="Renamed"), "id": stored["id"]})
    history = client.get(f"/fhir/Patient/{stored['id']}/_history").get_json()
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert history["entry"][0]["fullUrl"] == f"http://localhost/fhir/Patient/{stored['id']}"


def test_type_history_pages_through_every_version_of_the_type(client):
    for n in range(3):
        create(client, patient(mrn=str(n)))
    create(client, {"resourceType": "Organization", "name": "Elsewhere"})
    first = client.get("/fhir/Patient/_history?_count=2").get_json()
    assert len(first["entry"]) == 2
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = client.get(following.removeprefix("http://localhost")).get_json()
    assert len(second["entry"]) == 1
    assert all(e["resource"]["resourceType"] == "Patient" for e in first["entry"] + second["entry"])


def test_an_identical_update_makes_no_new_version(client):
    stored = create(client, patient())
    response = client.put(f"/fhir/Patient/{stored['id']}", json={**patient(), "id": stored["id"]})
    assert response.status_code == 200
    assert response.get_json()["meta"]["versionId"] == "1"


def test_read_with_the_current_etag_in_if_none_match_is_304(client):
    stored = create(client, patient())
    response = client.get(f"/fhir/Patient/{stored['id']}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 304


def test_vread_of_the_deletion_is_410(client):
    stored = create(client, patient())
    client.delete(f"/fhir/Patient/{stored['id']}")
    assert client.get(f"/fhir/Patient/{stored['id']}/_history/2").status_code == 410


def test_head_answers_the_read_headers_without_a_body(client):
    stored = create(client, patient())
    response = client.head(f"/fhir/Patient/{stored['id']}")
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"1"' and response.data == b""


def _last_modified_of(resource: dict) -> str:
    """The HTTP date of a resource's meta.lastUpdated (to the second, as HTTP dates are)."""
    moment = datetime.fromisoformat(resource["meta"]["lastUpdated"].replace("Z", "+00:00"))
    return format_datetime(moment.astimezone(timezone.utc), usegmt=True)


def test_read_answers_last_modified_of_the_current_version(client):
    stored = create(client, patient())
    response = client.get(f"/fhir/Patient/{stored['id']}")
    assert response.headers["Last-Modified"] == _last_modified_of(stored)


def test_update_answers_last_modified_of_the_new_version(client):
    stored = create(client, patient())
    time.sleep(1.1)  # HTTP dates count seconds: the new version's must differ from the first's
    response = client.put(f"/fhir/Patient/{stored['id']}", json={**patient(family="Renamed"), "id": stored["id"]})
    assert response.headers["Last-Modified"] == _last_modified_of(response.get_json())
    assert response.headers["Last-Modified"] != _last_modified_of(stored)
