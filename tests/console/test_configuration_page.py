"""The console's configuration page: channels, destinations and routes in force with every secret
masked (Carepatron's API key from the environment never shows), when the files last changed, and the
result of ``config check`` on the file as it is now."""

from __future__ import annotations

import pytest

from engine.operations.configuration import MASK, UNSET, masked

API_KEY = "cp-live-very-secret-key"


@pytest.fixture
def carepatron_on(secured):
    """The same engine with Carepatron's API key in its environment, a viewer signed in on its client."""
    from carebridge.app import create_app
    from carebridge.runtime import build_runtime
    from engine.config.environment import Settings
    from support.access import sign_in

    runtime = build_runtime(Settings.from_env({**secured.settings.environ, "CAREPATRON_API_KEY": API_KEY}))
    runtime.client = create_app(runtime).test_client()
    runtime.access.users.add("viewer-1", "viewer", "console-test-password")
    assert sign_in(runtime.client, "viewer-1", "console-test-password").status_code == 302
    yield runtime
    runtime.close()


def test_the_api_key_set_in_the_environment_is_masked(carepatron_on):
    page = carepatron_on.client.get("/admin/configuration").get_data(as_text=True)
    assert 'data-destination="carepatron"' in page and "api_key" in page
    assert API_KEY not in page and MASK in page


def test_channels_destinations_and_routes_are_listed(secured, signed_in):
    page = signed_in("viewer").get("/admin/configuration").get_data(as_text=True)
    assert 'data-channel="mllp"' in page and 'data-destination="carepatron"' in page
    assert all(f'data-route="{route.name}"' in page for route in secured.router.routes)
    assert UNSET in page  # no key set: said so, and the destination is not active
    assert "engine started" in page and str(secured.settings.config_path) in page


def test_a_valid_file_is_reported_valid(secured, signed_in):
    page = signed_in("viewer").get("/admin/configuration").get_data(as_text=True)
    assert 'data-check="valid"' in page


def test_a_broken_edit_is_reported_with_its_problems_while_the_running_config_stays(secured, signed_in):
    path = secured.settings.config_path
    path.write_text(path.read_text().replace("destinations:", "destinatons:", 1))
    page = signed_in("viewer").get("/admin/configuration").get_data(as_text=True)
    assert 'data-check="invalid"' in page and "destinatons" in page
    assert 'data-destination="carepatron"' in page


def test_secrets_are_masked_at_any_depth_and_in_urls():
    options = {"api_key": "k", "headers": {"Authorization": "Bearer t", "Accept": "json"}, "client_secret": "",
               "base_url": "https://user:pass@host/x", "password_file": None, "timeout_seconds": 3}
    assert masked(options) == {"api_key": MASK, "headers": {"Authorization": MASK, "Accept": "json"},
                               "client_secret": UNSET, "base_url": f"https://user:{MASK}@host/x",
                               "password_file": UNSET, "timeout_seconds": 3}


def test_the_page_needs_a_signed_in_user(secured):
    assert secured.client.get("/admin/configuration").status_code == 302
