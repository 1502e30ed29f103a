"""The Carepatron simulator keeps the contract of docs/carepatron-contract.md, over real HTTP."""

from __future__ import annotations

import io

import pytest
import requests

from simulators.carepatron import CarepatronSimulator
from simulators.carepatron.idempotency import IdempotencyCache

KEY = "test-key"
AUTH = {"cp-api-key": KEY}


@pytest.fixture
def sim():
    with CarepatronSimulator(api_key=KEY) as simulator:
        yield simulator


def post(sim, path, body, **headers):
    return requests.post(sim.base_url + path, json=body, headers={**AUTH, **headers}, timeout=5)


def get(sim, path, **params):
    return requests.get(sim.base_url + path, params=params, headers=AUTH, timeout=5)


def client(sim, external_id="urn:mrn|1", **fields):
    body = {"firstName": "Ada", "lastName": "Lovelace", "externalId": external_id, **fields}
    response = post(sim, "/clients", body)
    assert response.status_code == 201, response.text
    return response.json()


def test_ping_answers_without_a_key(sim):
    response = requests.get(sim.base_url + "/ping", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_secure_ping_answers_with_the_key(sim):
    assert get(sim, "/providers/prov_1/secure-ping").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"cp-api-key": "wrong"}])
def test_missing_or_wrong_key_is_refused_with_a_problem(sim, headers):
    response = requests.get(sim.base_url + "/clients", headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert set(response.json()) >= {"type", "title", "status", "detail", "errors"}


def test_created_client_gets_an_opaque_string_id_and_can_be_read_back(sim):
    created = client(sim, sex="female", dateOfBirth="1815-12-10",
                     address={"city": "London", "zipCode": "W1"})
    assert created["id"].startswith("cli_")
    assert get(sim, f"/clients/{created['id']}").json() == created
    assert sim.records("clients") == [created]


def test_put_replaces_the_whole_client(sim):
    created = client(sim, email="ada@example.org")
    body = {"firstName": "Ada", "lastName": "King", "externalId": "urn:mrn|1"}
    response = requests.put(f"{sim.base_url}/clients/{created['id']}", json=body, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"id": created["id"], **body}


def test_put_to_an_unknown_id_is_not_found(sim):
    body = {"firstName": "Ada", "lastName": "King"}
    response = requests.put(f"{sim.base_url}/clients/cli_nope", json=body, headers=AUTH)
    assert response.status_code == 404


def test_clients_are_found_by_external_id_and_by_email_ignoring_case(sim):
    ada = client(sim, "urn:mrn|1", email="Ada@Example.org")
    client(sim, "urn:mrn|2", email="grace@example.org")
    assert get(sim, "/clients", externalId="urn:mrn|1").json()["items"] == [ada]
    assert get(sim, "/clients", email="ada@example.org").json()["items"] == [ada]


def test_lists_page_by_limit_and_cursor(sim):
    ids = [client(sim, f"urn:mrn|{n}")["id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        page = get(sim, "/clients", limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ids


@pytest.mark.parametrize("params", [{"limit": "101"}, {"cursor": "garbage"}, {"name": "x"}])
def test_bad_list_parameters_are_refused(sim, params):
    assert get(sim, "/clients", **params).status_code == 400


def test_duplicate_external_id_is_a_conflict_naming_the_existing_id(sim):
    first = client(sim, "urn:mrn|1")
    response = post(sim, "/clients", {"firstName": "A", "lastName": "B", "externalId": "urn:mrn|1"})
    assert response.status_code == 409
    assert response.json()["existingId"] == first["id"]
    assert len(sim.records("clients")) == 1


def test_idempotency_key_replays_the_first_answer(sim):
    body = {"firstName": "Ada", "lastName": "Lovelace"}
    first = post(sim, "/clients", body, **{"Idempotency-Key": "delivery-1"})
    again = post(sim, "/clients", body, **{"Idempotency-Key": "delivery-1"})
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert len(sim.records("clients")) == 1


def test_idempotency_key_does_not_replay_a_refusal(sim):
    key = {"Idempotency-Key": "delivery-1"}
    assert post(sim, "/clients", {"firstName": "Ada"}, **key).status_code == 422
    fixed = post(sim, "/clients", {"firstName": "Ada", "lastName": "Lovelace"}, **key)
    assert fixed.status_code == 201


@pytest.mark.parametrize(
    "fields, bad",
    [
        ({"nickname": "Ada"}, "nickname"),
        ({"sex": "F"}, "sex"),
        ({"dateOfBirth": "10/12/1815"}, "dateOfBirth"),
        ({"address": {"postcode": "W1"}}, "address.postcode"),
        ({"lastName": None}, "lastName"),
        ({"id": "cli_mine"}, "id"),
    ],
)
def test_client_breaking_the_contract_is_refused_naming_the_field(sim, fields, bad):
    response = post(sim, "/clients", {"firstName": "Ada", "lastName": "L", **fields})
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert bad in response.json()["errors"]


def test_appointment_naming_an_unknown_client_is_refused(sim):
    body = {"clientId": "cli_unknown", "startDateUtc": "2025-01-01T09:00:00Z",
            "endDateUtc": "2025-01-01T10:00:00Z"}
    response = post(sim, "/appointments", body)
    assert response.status_code == 422
    assert "clientId" in response.json()["errors"]


def test_appointment_naming_an_unknown_staff_member_is_refused(sim):
    body = {"clientId": client(sim)["id"], "staffUserId": "tm_unknown",
            "startDateUtc": "2025-01-01T09:00:00Z", "endDateUtc": "2025-01-01T10:00:00Z"}
    assert "staffUserId" in post(sim, "/appointments", body).json()["errors"]


def test_appointment_with_known_client_and_staff_is_listed_by_client(sim):
    ada = client(sim)
    staff = post(sim, "/team-members", {"firstName": "Mary", "lastName": "S", "externalId": "p1"})
    body = {"clientId": ada["id"], "staffUserId": staff.json()["id"], "status": "Booked",
            "startDateUtc": "2025-01-01T09:00:00Z", "endDateUtc": "2025-01-01T10:00:00Z"}
    created = post(sim, "/appointments", body).json()
    assert get(sim, "/appointments", clientId=ada["id"]).json()["items"] == [created]


@pytest.mark.parametrize(
    "fields, bad",
    [({"status": "Done"}, "status"), ({"startDateUtc": "2025-01-01T09:00:00+02:00"}, "startDateUtc"),
     ({"endDateUtc": "2024-12-31T09:00:00Z"}, "endDateUtc")],
)
def test_appointment_with_bad_status_or_dates_is_refused(sim, fields, bad):
    body = {"clientId": client(sim)["id"], "startDateUtc": "2025-01-01T09:00:00Z",
            "endDateUtc": "2025-01-01T10:00:00Z", **fields}
    assert bad in post(sim, "/appointments", body).json()["errors"]


def test_invoice_with_items_and_a_credit_is_accepted(sim):
    body = {"clientId": client(sim)["id"], "invoiceNumber": "INV-1", "issueDate": "2025-01-01",
            "dueDate": "2025-01-31", "currency": "AUD", "status": "Unpaid",
            "items": [{"description": "Refund", "quantity": 1, "price": -80.5, "taxRate": 0.1}],
            "externalId": "inv-1"}
    assert post(sim, "/invoices", body).status_code == 201


@pytest.mark.parametrize(
    "fields, bad",
    [({"status": "Open"}, "status"), ({"currency": "dollars"}, "currency"),
     ({"items": [{"price": "80"}]}, "items[0].price"), ({"dueDate": "2025-02-30"}, "dueDate")],
)
def test_invoice_breaking_the_contract_is_refused(sim, fields, bad):
    body = {"clientId": client(sim)["id"], **fields}
    assert bad in post(sim, "/invoices", body).json()["errors"]


def test_notes_live_under_their_client(sim):
    ada = client(sim)
    note = post(sim, f"/clients/{ada['id']}/notes",
                {"title": "Visit", "content": "<p>Well</p>", "date": "2025-01-01T09:00:00Z",
                 "externalId": "doc-1"}).json()
    assert note["clientId"] == ada["id"]
    assert get(sim, f"/clients/{ada['id']}/notes", externalId="doc-1").json()["items"] == [note]


def test_note_for_an_unknown_client_is_refused(sim):
    response = post(sim, "/clients/cli_unknown/notes", {"content": "x"})
    assert response.status_code == 422


def upload(sim, client_id, content: bytes, **form):
    files = {"file": ("report.pdf", io.BytesIO(content), "application/pdf")}
    return requests.post(f"{sim.base_url}/clients/{client_id}/files", files=files, data=form,
                         headers=AUTH, timeout=30)


def test_file_upload_keeps_bytes_name_and_type(sim):
    ada = client(sim)
    response = upload(sim, ada["id"], b"%PDF-1.4", name="Report", externalId="doc-2")
    assert response.status_code == 201
    stored = response.json()
    assert (stored["contentType"], stored["fileName"], stored["size"]) == (
        "application/pdf", "report.pdf", 8)
    assert sim.file_content(stored["id"]) == b"%PDF-1.4"
    assert get(sim, f"/clients/{ada['id']}/files", externalId="doc-2").json()["items"] == [stored]


def test_file_upload_with_an_unknown_part_is_refused(sim):
    response = upload(sim, client(sim)["id"], b"x", folder="inbox")
    assert response.status_code == 422
    assert "folder" in response.json()["errors"]


class _Zeros(io.RawIOBase):
    """A readable stream of ``size`` zero bytes, so a huge upload needs no huge buffer."""

    def __init__(self, size: int) -> None:
        self.left = size

    def __len__(self) -> int:
        return self.left

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_file_over_25_mib_is_too_large(sim):
    ada = client(sim)
    boundary = "simulator-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = 25 * 1024 * 1024 + 1
    body = _MultipartStream(head, _Zeros(size), tail)
    response = requests.post(
        f"{sim.base_url}/clients/{ada['id']}/files", data=body, timeout=60,
        headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert sim.records("files") == []


class _MultipartStream(io.RawIOBase):
    """Concatenates a head, a body stream and a tail; ``len`` tells requests the length."""

    def __init__(self, head: bytes, body: _Zeros, tail: bytes) -> None:
        self.parts = [io.BytesIO(head), body, io.BytesIO(tail)]
        self.length = len(head) + len(body) + len(tail)

    def __len__(self) -> int:
        return self.length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.parts:
            n = self.parts[0].readinto(buffer)
            if n:
                return n
            self.parts.pop(0)
        return 0


def test_idempotent_replay_ends_after_24_hours():
    now = [0.0]
    cache = IdempotencyCache(clock=lambda: now[0])
    assert cache.begin(("key",)) is None
    cache.finish(("key",), 201, b"{}", "application/json")
    now[0] = 24 * 60 * 60 - 1
    assert cache.begin(("key",)).status == 201
    now[0] = 24 * 60 * 60
    assert cache.begin(("key",)) is None
