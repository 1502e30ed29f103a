"""The console's login in a real browser (Playwright driving Debian's chromium) against an engine
process with authentication on: signing in and out, the session cookie's flags, a viewer kept from
raw HL7 on the message page and in the admin API while an operator sees it, a form posted without
its CSRF token refused, and the lock-out after repeated wrong passwords.

Without /usr/bin/chromium (``./dev test`` installs it where apt-get is) the module is skipped;
with ``CI=true`` that is a failure instead."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hl7.client import MLLPClient
from playwright.sync_api import expect
from sqlalchemy import create_engine, select

from engine.db.models import Message
from support.browser import chromium, require_chromium
from support.config import ROOT
from support.engine_process import start_engine
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin-console-pass-1"
#: Users the CLI adds: name -> (role, password).
USERS = {"vera": ("viewer", "vera-viewer-pass-1"), "otto": ("operator", "otto-operator-pass-1"),
         "lou": ("viewer", "lou-lockout-pass-1")}
#: The PID's family name, patient data only the raw message holds.
FAMILY = "Quillfeather"
CONTROL_ID = "CONSOLE-1"
LOCKED = "the account is locked after repeated failed logins"
#: How long one browser step may take before the test fails (ms).
STEP_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module", autouse=True)
def chromium_present():
    require_chromium()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """An engine with authentication on, its users added with the CLI and one ADT received over MLLP."""
    tmp_path = tmp_path_factory.mktemp("console-browser")
    engine = start_engine(tmp_path, {"CAREBRIDGE_AUTH": "on", "CAREBRIDGE_ADMIN_PASSWORD": ADMIN_PASSWORD})
    try:
        for name, (role, password) in USERS.items():
            added = subprocess.run([sys.executable, "-m", "carebridge.cli", "users", "add", name, "--role", role],
                                   env={**engine.env, "CAREBRIDGE_NEW_PASSWORD": password}, cwd=ROOT,
                                   capture_output=True, text=True, timeout=60)
            assert added.returncode == 0, added.stderr
        with MLLPClient("127.0.0.1", engine.mllp_port) as client:
            ack = client.send_message(adt("A01", CONTROL_ID, family=FAMILY))
        assert f"MSA|AA|{CONTROL_ID}".encode() in ack
        database = create_engine(f"sqlite:///{tmp_path / 'var' / 'carebridge.db'}")
        try:
            with database.connect() as connection:
                engine.message_id = connection.scalar(select(Message.id).where(Message.control_id == CONTROL_ID))
        finally:
            database.dispose()
        assert engine.message_id is not None
        yield engine
    finally:
        assert engine.stop() == 0, engine.log()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def new_page(browser, engine):
    """Opens a page in a browser context of its own (its own cookies): ``page = new_page()``."""
    contexts = []

    def open_page():
        context = browser.new_context(base_url=engine.base_url)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def _submit_login(page, username: str, password: str):
    """Fill the login form and press Sign in; the login POST's response once the next page is shown."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_response(lambda r: r.request.method == "POST" and "/admin/login" in r.url) as answer:
        page.get_by_role("button", name="Sign in").click()
    if answer.value.status != 302:  # the login page again: wait until its form (emptied) is there
        expect(page.get_by_label("Password")).to_have_value("")
    return answer.value


def _sign_in(page, username: str, password: str, path: str = "/admin/") -> None:
    """Open ``path``, get sent to the login page, sign in and land back on ``path``."""
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    assert _submit_login(page, username, password).status == 302
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def _session_cookie(page) -> dict:
    found = [c for c in page.context.cookies() if c["name"] == "carebridge_session"]
    assert len(found) == 1, page.context.cookies()
    return found[0]


def test_an_admin_signs_in_sees_the_dashboard_and_signs_out(new_page):
    page = new_page()
    _sign_in(page, "admin", ADMIN_PASSWORD)
    expect(page.get_by_role("heading", name="Carebridge", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Channels")).to_be_visible()
    expect(page.get_by_role("columnheader", name="channel", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="inbox", exact=True)).to_be_visible()
    expect(page.get_by_text("admin (admin)")).to_be_visible()
    cookie = _session_cookie(page)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    signed_in = page.context.cookies()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()

    # The cookie from before the sign-out ended with its session: a copy of it signs nobody in.
    copy = new_page()
    copy.context.add_cookies(signed_in)
    copy.goto("/admin/")
    expect(copy).to_have_url(re.compile(r"/admin/login\?next="))


def test_a_viewer_sees_no_raw_hl7_and_an_operator_does(new_page, engine):
    path = f"/admin/messages/{engine.message_id}"
    viewer = new_page()
    _sign_in(viewer, "vera", USERS["vera"][1], path)
    expect(viewer.get_by_role("cell", name=CONTROL_ID, exact=True)).to_be_visible()
    expect(viewer.locator("#raw-hidden")).to_be_visible()
    expect(viewer.locator("#raw")).to_have_count(0)
    assert FAMILY not in viewer.locator("body").inner_text()
    api = f"/admin/api/messages/{engine.message_id}"
    assert viewer.request.get(api).status == 200  # the session works in the API ...
    refused = viewer.request.get(api + "?raw=true")
    assert refused.status == 403, refused.text()  # ... but not for the raw message
    assert FAMILY not in refused.text()

    operator = new_page()
    _sign_in(operator, "otto", USERS["otto"][1], path)
    expect(operator.locator("#raw")).to_contain_text(f"PID|1||100001^^^HOSP^MR||{FAMILY}^Ada")
    expect(operator.locator("#raw-hidden")).to_have_count(0)
    assert operator.request.get(api + "?raw=true").status == 200


def test_a_form_posted_without_its_csrf_token_is_refused(new_page):
    page = new_page()
    _sign_in(page, "admin", ADMIN_PASSWORD)
    removed = page.evaluate("""() => {
        const field = document.querySelector('form[action$="/logout"] input[name="csrf_token"]');
        if (field) field.remove();
        return field !== null;
    }""")
    assert removed
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/admin/logout")) as answer:
        page.get_by_role("button", name="Sign out").click()
    assert answer.value.status == 403
    expect(page.locator("body")).to_contain_text("This form has expired")

    page.goto("/admin/")  # still signed in: the sign-out did not happen
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(new_page):
    page = new_page()
    page.goto("/admin/login")
    for attempt in range(5):
        answer = _submit_login(page, "lou", f"wrong-password-{attempt}")
        assert answer.status == 401
        expect(page.get_by_role("alert")).to_have_text("wrong user name or password")

    answer = _submit_login(page, "lou", USERS["lou"][1])
    assert answer.status == 401
    expect(page.get_by_role("alert")).to_have_text(LOCKED)
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    assert page.request.get("/admin/api/messages").status == 401
