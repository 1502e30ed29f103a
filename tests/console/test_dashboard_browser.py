"""The dashboard and the deliveries page in a real browser (Playwright driving Debian's chromium)
against an engine process with authentication on, delivering to the Carepatron simulator: a message
sent over MLLP is counted without reloading the page, its delivery parked by a 422 is listed on the
deliveries page, retried there once the fault is cleared (confirmation, then confirm), and delivered.

Without /usr/bin/chromium (``./dev test`` installs it where apt-get is) the module is skipped;
with ``CI=true`` that is a failure instead."""

from __future__ import annotations

import re

import pytest
from hl7.client import MLLPClient
from playwright.sync_api import expect

from simulators.carepatron import CarepatronSimulator
from support.browser import chromium, require_chromium
from support.config import TEST_API_KEY
from support.engine_process import start_engine
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin-dashboard-pass-1"
#: How long one browser step may take before the test fails (ms).
STEP_TIMEOUT_MS = 10_000
#: How long a figure may take to appear on the dashboard: two of its 5 s refreshes (ms).
REFRESHED_MS = 12_000


@pytest.fixture(scope="module", autouse=True)
def chromium_present():
    require_chromium()


@pytest.fixture(scope="module")
def simulator():
    with CarepatronSimulator(api_key=TEST_API_KEY) as sim:
        yield sim


@pytest.fixture(scope="module")
def engine(tmp_path_factory, simulator):
    """``carebridge serve`` with authentication on, delivering to the simulator."""
    tmp_path = tmp_path_factory.mktemp("dashboard-browser")
    engine = start_engine(tmp_path, {"CAREBRIDGE_AUTH": "on", "CAREBRIDGE_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                     "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY})
    try:
        yield engine
    finally:
        assert engine.stop() == 0, engine.log()


@pytest.fixture
def page(engine):
    with chromium() as browser:
        context = browser.new_context(base_url=engine.base_url)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        yield context.new_page()


def test_the_dashboard_counts_a_new_message_and_a_parked_delivery_is_retried_from_the_console(
        page, engine, simulator):
    page.goto("/admin/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    mapped = page.locator('td[data-channel="mllp"][data-status="mapped"]')
    failed = page.locator('td[data-destination="carepatron"][data-status="failed"]')
    expect(mapped).to_have_text("0")
    expect(page.locator('td[data-channel="mllp"][data-listener]')).to_have_text("up")
    expect(page.get_by_role("status")).to_contain_text("updates every 5 s")  # the script runs

    simulator.faults.reject("clients")
    with MLLPClient("127.0.0.1", engine.mllp_port) as client:
        assert b"MSA|AA|DASH-1" in client.send_message(adt("A01", "DASH-1", mrn="700001"))
    # No reload: the page fetches its figures again every few seconds.
    expect(mapped).to_have_text("1", timeout=REFRESHED_MS)
    expect(failed).to_have_text("1", timeout=REFRESHED_MS)
    assert page.url.endswith("/admin/")

    failed.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/admin/deliveries\?destination=carepatron&status=failed$"))
    expect(page.locator("section.group h3")).to_contain_text("HTTP 422")
    row = page.locator("tr[data-delivery]")
    expect(row).to_have_count(1)
    delivery_id = row.get_attribute("data-delivery")
    expect(row).to_contain_text("Patient/")

    simulator.faults.lift("clients")
    row.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("heading", name="Retry 1 delivery?")).to_be_visible()
    expect(page.locator(f'tr[data-delivery="{delivery_id}"]')).to_contain_text("HTTP 422")
    page.get_by_role("button", name="Confirm: retry 1").click()
    expect(page.get_by_role("status")).to_have_text(f"1 delivery will be tried again: {delivery_id}")

    page.goto("/admin/")
    expect(page.locator('td[data-destination="carepatron"][data-status="delivered"]')).to_have_text(
        "1", timeout=REFRESHED_MS)
    expect(page.locator('td[data-destination="carepatron"][data-status="failed"]')).to_have_text("0")
    page.goto("/admin/deliveries?destination=carepatron&status=delivered")
    expect(page.locator(f'tr[data-delivery="{delivery_id}"] td[data-status]')).to_have_text("delivered")
    assert len(simulator.records("clients")) == 1
