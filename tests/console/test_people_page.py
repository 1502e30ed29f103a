"""The console's people page, for admins only: a user added there can sign in, is disabled, gets a
new password; a client added there shows its secret on that answer only and is revoked; every action
is a POST with the CSRF token and is audited; the audit trail is searched by user, action and date."""

from __future__ import annotations

import base64
import re

import pytest

from support.access import csrf_of, sign_in

PASSWORD = "a-fresh-password-1"


def page_of(client) -> str:
    return client.get("/admin/people").get_data(as_text=True)


def post(client, path: str, **fields):
    return client.post(path, data={"csrf_token": csrf_of(page_of(client)), **fields})


def audited(runtime, subtype: str) -> list[tuple[str, str, str]]:
    return [(r.agent, r.entity_id, r.outcome) for r in runtime.access.audit.find(limit=500) if r.subtype == subtype]


def test_an_added_user_can_sign_in(secured, signed_in, another_browser):
    admin = signed_in("admin")
    assert post(admin, "/admin/people/users", username="dana", role="operator", password=PASSWORD).status_code == 302
    assert 'data-user="dana"' in page_of(admin)
    assert audited(secured, "user-add") == [("admin-1", "dana", "0")]
    assert sign_in(another_browser(), "dana", PASSWORD).status_code == 302


def test_a_disabled_user_can_no_longer_sign_in(secured, signed_in, another_browser):
    secured.access.users.add("dana", "operator", PASSWORD)
    admin = signed_in("admin")
    post(admin, "/admin/people/users/dana/disable")
    assert re.search(r'data-user="dana">.*?disabled', page_of(admin), re.S)
    assert sign_in(another_browser(), "dana", PASSWORD).status_code != 302
    assert audited(secured, "user-disable") == [("admin-1", "dana", "0")]


def test_an_admin_cannot_disable_themselves(secured, signed_in):
    admin = signed_in("admin")
    post(admin, "/admin/people/users/admin-1/disable")
    assert "You cannot disable yourself" in page_of(admin)
    assert audited(secured, "user-disable") == []


def test_a_reset_password_replaces_the_old_one(secured, signed_in, another_browser):
    secured.access.users.add("dana", "operator", PASSWORD)
    admin = signed_in("admin")
    post(admin, "/admin/people/users/dana/password", password="another-password-2")
    assert sign_in(another_browser(), "dana", PASSWORD).status_code != 302
    assert sign_in(another_browser(), "dana", "another-password-2").status_code == 302
    assert audited(secured, "password-reset") == [("admin-1", "dana", "0")]


def test_a_short_password_is_refused_and_the_refusal_audited(secured, signed_in):
    admin = signed_in("admin")
    post(admin, "/admin/people/users", username="dana", role="operator", password="short")
    assert "at least 12 characters" in page_of(admin)
    assert audited(secured, "user-add") == [("admin-1", "dana", "4")]


def test_a_client_secret_is_shown_once_and_works_until_revoked(secured, signed_in, another_browser):
    admin = signed_in("admin")
    answer = post(admin, "/admin/people/clients", name="lab-gateway", scopes="system/Patient.rs hl7.send")
    shown = answer.get_data(as_text=True)
    assert answer.status_code == 201
    client_id = re.search(r"<code>(c-[0-9a-f]+)</code>", shown).group(1)
    secret = re.search(r'<code class="secret">([^<]+)</code>', shown).group(1)
    assert secret not in page_of(admin) and client_id in page_of(admin)
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    token = another_browser().post("/auth/token", data={"grant_type": "client_credentials"},
                                                headers={"Authorization": f"Basic {basic}"})
    assert token.status_code == 200
    post(admin, f"/admin/people/clients/{client_id}/revoke")
    assert re.search(rf'data-client="{client_id}">.*?revoked', page_of(admin), re.S)
    assert not secured.access.clients.is_active(client_id)
    assert audited(secured, "client-add") == [("admin-1", "lab-gateway", "0")]
    assert audited(secured, "client-revoke") == [("admin-1", "lab-gateway", "0")]


def test_a_bad_scope_is_refused(secured, signed_in):
    admin = signed_in("admin")
    post(admin, "/admin/people/clients", name="odd", scopes="everything please")
    assert "Client not added" in page_of(admin) and secured.access.clients.list() == []


@pytest.mark.parametrize("role", ["viewer", "operator", "integrator"])
def test_only_admins_open_the_page_or_act(secured, signed_in, role):
    client = signed_in(role)
    assert client.get("/admin/people").status_code == 403
    token = csrf_of(client.get("/admin/").get_data(as_text=True))
    assert client.post("/admin/people/users", data={"csrf_token": token, "username": "eve", "role": "admin",
                                                    "password": PASSWORD}).status_code == 403
    assert [u["username"] for u in secured.access.users.list()] == [f"{role}-1"]


def test_an_action_without_the_csrf_token_is_refused(secured, signed_in):
    admin = signed_in("admin")
    assert admin.post("/admin/people/users", data={"username": "eve", "role": "admin",
                                                   "password": PASSWORD}).status_code == 403


def test_the_audit_trail_is_filtered_by_user_action_and_date(secured, signed_in, another_browser):
    secured.access.users.add("dana", "operator", PASSWORD)
    admin = signed_in("admin")
    post(admin, "/admin/people/users/dana/password", password="another-password-2")
    sign_in(another_browser(), "dana", "another-password-2")
    by_dana = admin.get("/admin/people?agent=dana").get_data(as_text=True)
    agents = re.findall(r"<td data-agent>(\S+)", by_dana)
    assert agents and set(agents) == {"dana"}
    resets = admin.get("/admin/people?subtype=password-reset").get_data(as_text=True)
    assert re.findall(r"<td data-subtype>(\S+)", resets) == ["password-reset"]
    assert re.findall(r"<td data-subtype>", admin.get("/admin/people?until=2000-01-01").get_data(as_text=True)) == []
    assert "Dates are written YYYY-MM-DD" in admin.get("/admin/people?since=yesterday").get_data(as_text=True)


@pytest.fixture
def another_browser(secured):
    """A browser of its own on the same engine, for a user signing in (or a client asking for a token) beside
    the signed-in admin."""
    from carebridge.app import create_app

    return lambda: create_app(secured).test_client()
