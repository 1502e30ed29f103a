"""The admin API does what the console's patients, playground, configuration and people pages do:
as JSON, with each page's permission, audited."""

from __future__ import annotations

from sqlalchemy import func, select

from engine.db.models import Message, ResourceRecord
from support.access import bearer
from support.hl7_messages import adt

PASSWORD = "a long enough password"


def _tokens(runtime) -> dict[str, dict[str, str]]:
    tokens = {}
    for role in ("admin", "integrator", "operator", "viewer"):
        runtime.access.users.add(f"{role}-api", role, PASSWORD)
        tokens[role] = bearer(runtime.access.users.issue_token(f"{role}-api"))
    return tokens


def _patient(runtime) -> str:
    outcome = runtime.pipeline.receive_hl7(adt("A01", "API-1", mrn="551001", family="Parityson"), "mllp")
    assert outcome.status == "accepted", outcome.reason
    return next(w.id for w in outcome.written if w.resource_type == "Patient")


def test_patients_are_found_read_and_linked_through_the_api(secured):
    tokens, patient_id = _tokens(secured), _patient(secured)
    client = secured.client
    found = client.get("/admin/api/patients?identifier=551001", headers=tokens["operator"]).get_json()
    assert [p["id"] for p in found["items"]] == [patient_id]
    assert client.get("/admin/api/patients?identifier=551001", headers=tokens["viewer"]).status_code == 403
    linked = client.post(f"/admin/api/patients/{patient_id}/cross-references", headers=tokens["operator"],
                         json={"destination": "carepatron", "remoteId": "cli_123"})
    assert linked.status_code == 200
    shown = client.get(f"/admin/api/patients/{patient_id}", headers=tokens["operator"]).get_json()
    assert [(x["destination"], x["remote_id"]) for x in shown["crossReferences"]] == [("carepatron", "cli_123")]
    assert client.post(f"/admin/api/patients/{patient_id}/cross-references", headers=tokens["operator"],
                       json={"destination": "nowhere", "remoteId": "x"}).status_code == 400
    assert client.delete(f"/admin/api/patients/{patient_id}/cross-references/carepatron",
                         headers=tokens["operator"]).status_code == 200
    assert client.delete(f"/admin/api/patients/{patient_id}/cross-references/carepatron",
                         headers=tokens["operator"]).status_code == 404
    audited = {(r.subtype, r.outcome) for r in secured.access.audit.find(agent="operator-api")}
    assert {("search", "0"), ("read", "0"), ("link", "0"), ("unlink", "0")} <= audited


def test_the_playground_maps_without_storing(secured):
    tokens = _tokens(secured)

    def counts():
        with secured.database.read() as session:
            return (session.scalar(select(func.count()).select_from(Message)),
                    session.scalar(select(func.count()).select_from(ResourceRecord)))

    before = counts()
    answer = secured.client.post("/admin/api/playground", headers=tokens["integrator"],
                                 json={"message": adt("A01", "PLAY-API").decode(), "channel": "mllp"})
    assert answer.status_code == 200 and answer.get_json()["bundle"]["resourceType"] == "Bundle"
    assert counts() == before
    assert secured.client.post("/admin/api/playground", headers=tokens["operator"],
                               json={"message": "MSH|", "channel": "mllp"}).status_code == 403
    assert secured.client.post("/admin/api/playground", headers=tokens["integrator"], json=[1]).status_code == 400


def test_configuration_is_shown_with_secrets_masked(secured):
    tokens = _tokens(secured)
    answer = secured.client.get("/admin/api/configuration", headers=tokens["viewer"]).get_json()
    assert answer["check"] and {c["name"] for c in answer["channels"]} >= {"mllp"}
    carepatron = next(d for d in answer["destinations"] if d["name"] == "carepatron")
    assert "api_key" not in carepatron["options"] or carepatron["options"]["api_key"] in ("••••", "(not set)")


def test_people_and_clients_are_managed_by_admins_only(secured):
    tokens = _tokens(secured)
    client = secured.client
    added = client.post("/admin/api/users", headers=tokens["admin"],
                        json={"username": "newbie", "role": "viewer", "password": PASSWORD})
    assert added.status_code == 201
    assert client.post("/admin/api/users", headers=tokens["operator"],
                       json={"username": "x", "role": "viewer", "password": PASSWORD}).status_code == 403
    listed_users = client.get("/admin/api/users", headers=tokens["admin"]).get_json()["items"]
    assert "newbie" in {u["username"] for u in listed_users}
    assert client.post("/admin/api/users/newbie/password", headers=tokens["admin"],
                       json={"password": "another long password"}).status_code == 200
    assert client.post("/admin/api/users/newbie/disable", headers=tokens["admin"]).status_code == 200
    assert client.post("/admin/api/users/admin-api/disable", headers=tokens["admin"]).status_code == 409
    made = client.post("/admin/api/clients", headers=tokens["admin"], json={"name": "lab", "scope": "system/*.rs"})
    assert made.status_code == 201 and made.get_json()["client_secret"].startswith("cbs_")
    listed = client.get("/admin/api/clients", headers=tokens["admin"]).get_json()["items"]
    assert [c["name"] for c in listed] == ["lab"] and "client_secret" not in listed[0]
    assert client.post("/admin/api/clients", headers=tokens["admin"],
                       json={"name": "bad", "scope": "patient/*.rs"}).status_code == 400
    revoked = client.post(f"/admin/api/clients/{made.get_json()['client_id']}/revoke", headers=tokens["admin"])
    assert revoked.status_code == 200 and revoked.get_json()["revoked"] is True
