"""FHIR decimals keep the precision they were written with: ``1.00`` is stored, read and found as ``1.00``."""

from __future__ import annotations

from sqlalchemy import select

from engine.db.models import ResourceRecord, ResourceVersion

FHIR_JSON = "application/fhir+json"
#: An Observation whose value has two significant decimal places, as the text a client sends.
OBSERVATION = ('{"resourceType":"Observation","status":"final","code":{"text":"weight"},'
               '"valueQuantity":{"value":1.00,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}')
#: A Location whose position has trailing zeros (digits a float would drop).
LOCATION = ('{"resourceType":"Location","id":"south-wing","name":"South Wing",'
            '"position":{"longitude":-83.694710,"latitude":42.256500,"altitude":0.0}}')


def test_create_and_read_return_decimals_as_written(client):
    created = client.post("/fhir/Observation", data=OBSERVATION, content_type=FHIR_JSON)
    assert created.status_code == 201
    assert '"value":1.00' in created.get_data(as_text=True).replace(" ", "")
    read = client.get(f"/fhir/Observation/{created.get_json()['id']}")
    assert '"value":1.00' in read.get_data(as_text=True).replace(" ", "")


def test_update_read_vread_history_and_search_keep_every_digit(client):
    assert client.put("/fhir/Location/south-wing", data=LOCATION, content_type=FHIR_JSON).status_code == 201
    for path in ("Location/south-wing", "Location/south-wing/_history/1", "Location/south-wing/_history",
                 "Location?name=south", "Location?_id=south-wing"):
        text = client.get(f"/fhir/{path}").get_data(as_text=True).replace(" ", "")
        assert '"latitude":42.256500' in text and '"longitude":-83.694710' in text, path
        assert '"altitude":0.0' in text, path


def test_the_stored_json_keeps_the_decimals_as_written(client, runtime):
    client.put("/fhir/Location/south-wing", data=LOCATION, content_type=FHIR_JSON)
    with runtime.database.read() as session:
        current = session.scalar(select(ResourceRecord.content).where(ResourceRecord.id == "south-wing"))
        version = session.scalar(select(ResourceVersion.content).where(ResourceVersion.id == "south-wing"))
    for stored in (current, version):
        assert '"latitude":42.256500' in stored and '"longitude":-83.694710' in stored


def test_changing_only_the_precision_of_a_decimal_is_a_new_version(client):
    client.put("/fhir/Location/south-wing", data=LOCATION, content_type=FHIR_JSON)
    again = client.put("/fhir/Location/south-wing", data=LOCATION, content_type=FHIR_JSON)
    assert again.get_json()["meta"]["versionId"] == "1"
    finer = client.put("/fhir/Location/south-wing", data=LOCATION.replace("42.256500", "42.2565000"),
                       content_type=FHIR_JSON)
    assert finer.get_json()["meta"]["versionId"] == "2"
    assert '"latitude":42.2565000' in client.get("/fhir/Location/south-wing").get_data(as_text=True).replace(" ", "")


def test_a_transaction_keeps_the_decimals_of_its_entries(client):
    bundle = ('{"resourceType":"Bundle","type":"transaction","entry":[{"resource":' + OBSERVATION +
              ',"request":{"method":"POST","url":"Observation"}}]}')
    response = client.post("/fhir", data=bundle, content_type=FHIR_JSON)
    assert response.status_code == 200
    location = response.get_json()["entry"][0]["response"]["location"]
    read = client.get("/fhir/" + location.split("/fhir/")[-1].split("/_history")[0])
    assert '"value":1.00' in read.get_data(as_text=True).replace(" ", "")
