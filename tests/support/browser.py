"""The browser the console tests drive: Debian's chromium through Playwright (its own download does
not work here). Without /usr/bin/chromium (``./dev test`` installs it where apt-get is) a browser
test is skipped; with ``CI=true`` that is a failure instead."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> None:
    """Skip (or, with ``CI=true``, fail) the calling test module when chromium is missing."""
    if CHROMIUM.exists():
        return
    message = f"Debian's chromium is missing at {CHROMIUM}: `./dev test` installs it (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing browser is a failure)", pytrace=False)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator:
    """A headless chromium (``--no-sandbox``: the tests run as root), closed at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        try:
            yield browser
        finally:
            browser.close()
