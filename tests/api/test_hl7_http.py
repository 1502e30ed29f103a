"""HL7 v2 over HTTP: POST /hl7 answers with the ACK in the body, through the same path as MLLP."""

from __future__ import annotations

import hl7

from support.hl7_messages import adt


def _msa(response) -> tuple[str, str]:
    segment = hl7.parse(response.get_data(as_text=True).replace("\n", "\r")).segment("MSA")
    return str(segment[1]), str(segment[2])


def test_a_mapped_message_is_acknowledged_aa_in_the_body(client):
    response = client.post("/hl7", data=adt("A01", "CTRL-HTTP-1"), content_type="x-application/hl7-v2+er7")
    assert response.status_code == 200
    assert _msa(response) == ("AA", "CTRL-HTTP-1")


def test_an_acknowledged_message_is_searchable_through_the_fhir_api(client):
    client.post("/hl7", data=adt("A01", "CTRL-HTTP-2", family="Viahttp"))
    bundle = client.get("/fhir/Patient?family=viahttp").get_json()
    assert bundle["total"] == 1


def test_an_unsupported_message_type_is_acknowledged_ae(client):
    message = adt("A01", "CTRL-HTTP-3").replace(b"ADT^A01^ADT_A01", b"ZZZ^Z01^ZZZ_Z01")
    response = client.post("/hl7", data=message)
    assert _msa(response)[0] == "AE"


def test_bytes_that_are_not_hl7_are_rejected_ar(client):
    response = client.post("/hl7", data=b"this is not an HL7 message")
    assert response.status_code == 200
    assert "MSA|AR" in response.get_data(as_text=True)


def test_an_unknown_channel_is_404(client):
    assert client.post("/hl7/nowhere", data=adt()).status_code == 404


def test_a_lab_value_reads_back_through_the_fhir_api_with_the_digits_it_was_sent_with(client):
    message = ("MSH|^~\\&|LAB|HOSP|CB|CB|20240122120000+1000||ORU^R01^ORU_R01|CTRL-HTTP-NM|P|2.5.1\r"
               "PID|1||NM-1^^^HOSP^MR||Doe^Jane\r"
               "OBR|1|ORD1^CLINIC|LAB-NM^HOSP|24331-1^Lipid panel^LN|||20240122080000+1000\r"
               "OBX|1|NM|2093-3^Cholesterol^LN||5.20|mmol/L^^UCUM|||||F\r").encode()
    assert _msa(client.post("/hl7", data=message)) == ("AA", "CTRL-HTTP-NM")
    text = client.get("/fhir/Observation?code=2093-3").get_data(as_text=True)
    assert '"value": 5.20' in text or '"value":5.20' in text, text
