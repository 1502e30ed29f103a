"""The message browser in a real browser (Playwright driving Debian's chromium) against an engine process
with authentication on, delivering to the Carepatron simulator: an operator finds a message sent over
MLLP by its control id and by the patient's MRN, opens it, and sees PID-5 named "Patient Name", the
Patient it wrote, its ACK, and its delivery to Carepatron with the sync-log rows; a viewer opening the
same page sees neither the raw message nor an action.

Without /usr/bin/chromium the module is skipped; with ``CI=true`` that is a failure instead."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from hl7.client import MLLPClient
from playwright.sync_api import expect

from support.browser import chromium, require_chromium
from support.config import ROOT, TEST_API_KEY
from support.engine_process import start_engine, wait_until
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin-browser-pass-1"
#: Users the CLI adds: name -> (role, password).
USERS = {"olga": ("operator", "olga-operator-pass-1"), "vic": ("viewer", "vic-viewer-pass-1")}
CONTROL_ID = "BROWSE-7"
MRN = "734001"
#: Patient data only the raw message holds.
FAMILY = "Marrowdale"
#: How long one browser step may take before the test fails (ms).
STEP_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module", autouse=True)
def chromium_present():
    require_chromium()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """An engine delivering to the simulator, its users added with the CLI, one ADT received over MLLP
    and delivered; ``engine.simulator`` is the simulator."""
    from simulators.carepatron import CarepatronSimulator

    tmp_path = tmp_path_factory.mktemp("message-browser")
    with CarepatronSimulator(api_key=TEST_API_KEY) as simulator:
        engine = start_engine(tmp_path, {"CAREBRIDGE_AUTH": "on", "CAREBRIDGE_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                         "CAREPATRON_BASE_URL": simulator.base_url,
                                         "CAREPATRON_API_KEY": TEST_API_KEY})
        try:
            for name, (role, password) in USERS.items():
                added = subprocess.run([sys.executable, "-m", "carebridge.cli", "users", "add", name, "--role", role],
                                       env={**engine.env, "CAREBRIDGE_NEW_PASSWORD": password}, cwd=ROOT,
                                       capture_output=True, text=True, timeout=60)
                assert added.returncode == 0, added.stderr
            with MLLPClient("127.0.0.1", engine.mllp_port) as client:
                ack = client.send_message(adt("A01", CONTROL_ID, mrn=MRN, family=FAMILY))
            assert f"MSA|AA|{CONTROL_ID}".encode() in ack
            wait_until(lambda: simulator.records("clients"), timeout=20, message="the patient at Carepatron")
            yield engine
        finally:
            assert engine.stop() == 0, engine.log()


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def signed_in(browser, engine, name: str, path: str):
    """A page of its own browser context, signed in as ``name`` and showing ``path``."""
    context = browser.new_context(base_url=engine.base_url)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(USERS[name][1])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    return page


def search(page, label: str, value: str) -> None:
    page.get_by_role("link", name="Clear").click()
    page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Search").click()


def test_an_operator_finds_a_message_by_control_id_and_mrn_and_follows_it_to_carepatron(browser, engine):
    page = signed_in(browser, engine, "olga", "/admin/messages")
    search(page, "Control id (MSH-10)", CONTROL_ID)
    expect(page).to_have_url(re.compile(rf"/admin/messages\?control_id={CONTROL_ID}$"))  # empty fields left out
    rows = page.locator("table.messages tr")
    expect(rows).to_have_count(2)  # the header and the message
    expect(rows.nth(1)).to_contain_text(CONTROL_ID)

    search(page, "Patient identifier (MRN)", MRN)
    expect(page).to_have_url(re.compile(rf"\?identifier={MRN}$"))
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text(CONTROL_ID)
    rows.nth(1).get_by_role("link").click()

    expect(page).to_have_url(re.compile(r"/admin/messages/\d+$"))
    pid5 = page.locator("#segments tr").filter(has=page.locator("code", has_text=re.compile("^PID-5$")))
    expect(pid5).to_contain_text("Patient Name")
    expect(pid5).to_contain_text(f"{FAMILY}^Ada")
    expect(page.locator("#resources")).to_contain_text("Patient/")
    expect(page.locator("#ack-code")).to_contain_text("AA")
    delivery = page.locator("section.delivery")
    expect(delivery).to_have_count(1)
    expect(delivery).to_contain_text("to carepatron")
    expect(delivery.locator("h3")).to_contain_text("delivered")
    expect(delivery.locator("tr.sync-log")).to_contain_text(["success"])
    expect(page.get_by_role("button", name="Replay")).to_be_visible()
    page.context.close()


def test_a_viewer_sees_the_message_without_its_raw_content_or_actions(browser, engine):
    page = signed_in(browser, engine, "vic", "/admin/messages")
    expect(page.get_by_label("Text in the raw message")).to_have_count(0)
    page.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    expect(page.locator("#raw-hidden")).to_be_visible()
    expect(page.locator("#raw")).to_have_count(0)
    expect(page.locator("#resources")).to_contain_text("Patient/")
    expect(page.locator("section.delivery")).to_contain_text("delivered")
    expect(page.get_by_role("button")).to_have_count(1)  # signing out, and nothing else
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    assert FAMILY not in page.locator("body").inner_text() and MRN not in page.locator("body").inner_text()
    page.context.close()


#: Set to write the README's screenshots into docs/ (else they go to the test's temporary folder).
SCREENSHOTS_SETTING = "CAREBRIDGE_UPDATE_SCREENSHOTS"


def test_screenshots_of_the_dashboard_and_a_messages_page(browser, engine, tmp_path):
    """The README's pictures, taken by this browser: ``CAREBRIDGE_UPDATE_SCREENSHOTS=1 ./dev test -k screenshots``."""
    target = ROOT / "docs" if os.environ.get(SCREENSHOTS_SETTING) == "1" else tmp_path
    page = signed_in(browser, engine, "olga", "/admin/")
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.get_by_role("heading", name="Channels")).to_be_visible()
    page.screenshot(path=str(target / "console-dashboard.png"), full_page=True)
    page.goto("/admin/messages")
    search(page, "Control id (MSH-10)", CONTROL_ID)
    page.locator("table.messages tr").nth(1).get_by_role("link").click()
    expect(page.locator("#ack-code")).to_contain_text("AA")
    page.screenshot(path=str(target / "console-message.png"), full_page=True)
    for name in ("console-dashboard.png", "console-message.png"):
        assert (target / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.context.close()
