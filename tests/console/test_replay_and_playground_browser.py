"""The replay preview and the mapping playground in a real browser (Playwright driving Debian's
chromium) against an engine process with authentication on: an integrator edits a channel's mapping
override, previews the replay of a message and sees the changed field, replays it, and maps a pasted
message in the playground.

Without /usr/bin/chromium the module is skipped; with ``CI=true`` that is a failure instead."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hl7.client import MLLPClient
from playwright.sync_api import expect

from support.browser import chromium, require_chromium
from support.config import ROOT, write_test_config
from support.engine_process import start_engine
from support.hl7_messages import adt

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "admin-replay-pass-1"
INTEGRATOR = ("ines", "ines-integrator-pass-1")
#: A channel override that maps every patient's birth date to one value: the field a replay changes.
BIRTH_DATE_OVERRIDE = "kind: segment_map\nname: pid_patient\nfields:\n  birthDate: {value: \"1999-01-01\"}\n"
STEP_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module", autouse=True)
def chromium_present():
    require_chromium()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """An engine on a config of its own (so an override can be written beside it), an integrator, and
    one ADT received over MLLP."""
    tmp_path = tmp_path_factory.mktemp("replay-browser")
    config = write_test_config(tmp_path)
    engine = start_engine(tmp_path, {"CAREBRIDGE_AUTH": "on", "CAREBRIDGE_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                     "CAREBRIDGE_CONFIG": str(config), "CAREBRIDGE_CONFIG_RELOAD_SECONDS": "0.2"})
    try:
        subprocess.run([sys.executable, "-m", "carebridge.cli", "users", "add", INTEGRATOR[0], "--role", "integrator"],
                       env={**engine.env, "CAREBRIDGE_NEW_PASSWORD": INTEGRATOR[1]}, cwd=ROOT, check=True,
                       capture_output=True, timeout=60)
        with MLLPClient("127.0.0.1", engine.mllp_port) as client:
            assert b"MSA|AA" in client.send_message(adt("A01", "REPLAY-B1", birth_date="19800214"))
        engine.config = config
        yield engine
    finally:
        assert engine.stop() == 0


@pytest.fixture(scope="module")
def page(engine):
    with chromium() as browser:
        context = browser.new_context(base_url=engine.base_url)
        context.set_default_timeout(STEP_TIMEOUT_MS)
        page = context.new_page()
        page.goto("/admin/messages")
        page.get_by_label("Username").fill(INTEGRATOR[0])
        page.get_by_label("Password").fill(INTEGRATOR[1])
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/admin/messages$"))
        yield page


def test_an_edited_override_shows_in_the_replay_preview_and_the_replay_applies_it(engine, page):
    override = engine.config.parent / "mappings" / "mllp" / "pid_patient.yaml"
    override.parent.mkdir(parents=True, exist_ok=True)
    override.write_text(BIRTH_DATE_OVERRIDE)
    page.get_by_role("link", name=re.compile(r"^\d+$")).first.click()
    page.get_by_role("link", name="Preview a replay").click()
    expect(page).to_have_url(re.compile(r"/admin/replay/\d+$"))
    changed = page.locator("section.resource-diff tr.changed")
    for _ in range(20):  # the override settles within a few reload intervals
        if changed.filter(has_text="birthDate").count():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(changed.filter(has_text="birthDate")).to_have_count(1)
    page.get_by_role("button", name=re.compile("^Replay message")).click()
    expect(page).to_have_url(re.compile(r"/admin/messages/\d+$"))
    expect(page.locator(".flash")).to_contain_text("replayed")
    page.get_by_role("link", name="Preview a replay").click()
    expect(page.locator("#unchanged")).to_be_visible()  # the replay wrote what the override makes


def test_the_playground_maps_a_pasted_message_to_a_bundle_and_stores_nothing(page):
    page.get_by_role("link", name="Playground").click()
    page.get_by_label("Message (segments one a line)").fill(
        adt("A01", "PLAY-B1", mrn="990001").decode().replace("\r", "\n"))
    page.get_by_role("button", name="Map").click()
    expect(page.locator("#bundle")).to_contain_text('"resourceType": "Bundle"')
    expect(page.locator("#bundle")).to_contain_text("990001")
    page.goto("/admin/messages?control_id=PLAY-B1")
    expect(page.locator("#no-messages")).to_be_visible()  # the playground stored nothing
