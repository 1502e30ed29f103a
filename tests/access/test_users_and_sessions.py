"""People on the console and the admin API: roles, personal tokens, the session cookie, CSRF,
sign-out, time-out, the lock-out, the first admin's generated password, and the users CLI."""

from __future__ import annotations

import json
import time

import pytest

from support.access import bearer, csrf_of, sign_in

PASSWORD = "correct horse battery"


def _people(runtime) -> dict[str, dict[str, str]]:
    tokens = {}
    for role in ("admin", "integrator", "operator", "viewer"):
        runtime.access.users.add(f"{role}-1", role, PASSWORD)
        tokens[role] = bearer(runtime.access.users.issue_token(f"{role}-1"))
    return tokens


def test_each_role_may_do_what_it_is_for_and_no_more(secured):
    from support.hl7_messages import adt

    message_id = secured.store.store_hl7(adt("A01", "ROLE-1"), "mllp").id
    people = _people(secured)
    client = secured.client
    expectations = {  # (method, url): roles that may
        ("GET", "/admin/api/messages"): {"admin", "integrator", "operator", "viewer"},
        ("GET", f"/admin/api/messages/{message_id}?raw=true"): {"admin", "operator"},
        ("POST", "/admin/api/deliveries/retry"): {"admin", "operator"},
        ("POST", "/admin/api/messages/replay"): {"admin", "integrator", "operator"},
        ("GET", "/admin/api/audit-events"): {"admin"},
    }
    for (method, url), allowed in expectations.items():
        for role, headers in people.items():
            answer = client.open(url, method=method, headers=headers, json={"status": "error"})
            assert (answer.status_code != 403) == (role in allowed), (method, url, role, answer.status_code)
    raw = client.get(f"/admin/api/messages/{message_id}?raw=true", headers=people["viewer"])
    assert "viewer" in raw.get_json()["detail"]
    audited = client.get("/admin/api/audit-events?agent=viewer-1", headers=people["admin"]).get_json()["items"]
    assert {("raw", "4")} <= {(a["subtype"], a["outcome"]) for a in audited}


def test_the_session_cookie_is_http_only_and_same_site_strict(secured):
    secured.access.users.add("dana", "viewer", PASSWORD)
    answer = sign_in(secured.client, "dana", PASSWORD)
    cookie = answer.headers["Set-Cookie"]
    assert answer.status_code == 302 and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; CAREBRIDGE_SECURE_COOKIES or TLS turn it on


def test_a_state_changing_request_with_the_session_needs_its_csrf_token(secured):
    secured.access.users.add("olive", "operator", PASSWORD)
    sign_in(secured.client, "olive", PASSWORD)
    page = secured.client.get("/admin/").get_data(as_text=True)
    assert secured.client.post("/admin/api/deliveries/retry", json={}).status_code == 403
    assert secured.client.post("/admin/logout").status_code == 403
    assert secured.client.get("/admin/").status_code == 200  # still signed in
    token = csrf_of(page)
    assert secured.client.post("/admin/api/deliveries/retry", json={}, headers={"X-CSRF-Token": token}).status_code == 202


def test_sign_out_ends_the_session_even_for_a_copied_cookie(secured):
    secured.access.users.add("sam", "viewer", PASSWORD)
    sign_in(secured.client, "sam", PASSWORD)
    copied = secured.client.get_cookie("carebridge_session").value
    page = secured.client.get("/admin/").get_data(as_text=True)
    assert secured.client.post("/admin/logout", data={"csrf_token": csrf_of(page)}).status_code == 302
    other = secured.client.application.test_client()
    other.set_cookie("carebridge_session", copied)
    assert other.get("/admin/").status_code == 302


def test_an_idle_session_times_out(secured):
    secured.access.users.add("ivy", "viewer", PASSWORD)
    sign_in(secured.client, "ivy", PASSWORD)
    assert secured.client.get("/admin/").status_code == 200
    object.__setattr__(secured.access.settings, "session_idle_minutes", 0.01)  # 0.6 s
    time.sleep(1)
    assert secured.client.get("/admin/").headers["Location"].startswith("/admin/login")


def test_five_wrong_passwords_lock_the_account(secured):
    secured.access.users.add("lee", "viewer", PASSWORD)
    for _ in range(5):
        assert sign_in(secured.client, "lee", "not the password").status_code == 401
    locked = sign_in(secured.client, "lee", PASSWORD)
    assert locked.status_code == 401 and "locked" in locked.get_data(as_text=True)
    failures = secured.access.audit.find(agent="lee")
    assert [r.detail for r in failures][:2] == ["locked", "wrong credentials"]


def test_a_disabled_user_loses_sessions_and_tokens(secured):
    secured.access.users.add("max", "operator", PASSWORD)
    token = bearer(secured.access.users.issue_token("max"))
    sign_in(secured.client, "max", PASSWORD)
    secured.access.users.disable("max")
    assert secured.client.get("/admin/").status_code == 302
    assert secured.client.get("/admin/api/messages", headers=token).status_code == 401
    assert sign_in(secured.client, "max", PASSWORD).status_code == 401


def test_the_first_admin_must_choose_a_password_and_next_is_never_another_site(secured):
    generated = secured.access.users.ensure_admin(None)
    assert generated and secured.access.users.ensure_admin(None) is None
    first = sign_in(secured.client, "admin", generated)
    assert first.headers["Location"] == "/admin/password"
    assert secured.client.get("/admin/").headers["Location"] == "/admin/password"
    form = secured.client.get("/admin/password").get_data(as_text=True)
    secured.client.post("/admin/password", data={"password": PASSWORD, "confirm": PASSWORD,
                                                 "csrf_token": csrf_of(form)})
    page = secured.client.get("/admin/login").get_data(as_text=True)
    again = secured.client.post("/admin/login", data={"username": "admin", "password": PASSWORD,
                                                      "csrf_token": csrf_of(page), "next": "//evil.example/x"})
    assert again.headers["Location"] == "/admin/"


def test_the_users_and_clients_commands(secured, monkeypatch, capsys):
    from carebridge.cli.main import main

    for name, value in secured.settings.environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CAREBRIDGE_NEW_PASSWORD", PASSWORD)
    assert main(["users", "add", "rita", "--role", "integrator"]) == 0
    assert main(["users", "add", "rita", "--role", "integrator"]) == 1
    assert main(["users", "token", "rita"]) == 0
    token = json.loads(capsys.readouterr().out.splitlines()[-1])["token"]
    assert secured.client.get("/admin/api/messages", headers=bearer(token)).status_code == 200
    assert main(["users", "disable", "rita"]) == 0
    assert secured.client.get("/admin/api/messages", headers=bearer(token)).status_code == 401
    capsys.readouterr()
    assert main(["clients", "add", "lab", "--scope", "system/Observation.cruds hl7.send"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["client_secret"].startswith("cbs_") and added["scope"] == "system/Observation.cruds hl7.send"
    assert main(["clients", "add", "bad", "--scope", "patient/*.read"]) == 1
    assert main(["clients", "revoke", "lab"]) == 0
    capsys.readouterr()
    assert main(["clients", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(c["name"], c["revoked"]) for c in listed] == [("lab", True)] and "client_secret" not in listed[0]
    refused = secured.client.post("/auth/token", data={"grant_type": "client_credentials", "client_id":
                                                      added["client_id"], "client_secret": added["client_secret"]})
    assert refused.status_code == 401
    with pytest.raises(SystemExit):
        main(["users", "add", "x", "--role", "superuser"])
