"""The admin console: the overview an operator keeps open, built on the same queries as the admin
API; what a role may not do is neither shown nor allowed. Each other page is a blueprint of its own
(messages: routes/console_messages.py)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, render_template, request, url_for

from engine.operations.overview import CHART_MINUTES, ListenerProbe, Overview, build_overview
from routes.access_guard import caller, requires
from routes.engine_runtime import current_runtime

console = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                    static_url_path="/static")

#: The console's pages in its navigation: endpoint, label, the permission that shows it.
PAGES = [
    ("console.overview", "Dashboard", "view"),
    ("console_messages.browse", "Messages", "view"),
    ("console_deliveries.parked", "Deliveries", "view"),
    ("console_patients.search", "Patients", "raw"),
    ("console_playground.playground", "Playground", "integrate"),
    ("console_config.configuration", "Configuration", "view"),
    ("console_people.people", "People", "admin"),
]
#: How often the dashboard refreshes itself (seconds).
REFRESH_SECONDS = 5
#: Every console page forbids inline scripts and styles, framing, and forms posting elsewhere.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def console_pages() -> list[tuple[str, str]]:
    """The pages the signed-in user may open and this engine has."""
    who = caller()
    return [(endpoint, label) for endpoint, label, permission in PAGES
            if endpoint in current_app.view_functions and who.may(permission)]


@console.record_once
def _register_globals(state) -> None:
    state.app.jinja_env.globals["console_pages"] = console_pages


@console.after_app_request
def _security_headers(response):
    if request.path == "/admin" or request.path.startswith("/admin/"):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/admin/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
    return response


#: Where an app keeps its listener probe, whose answers last a few seconds across requests.
PROBE_EXTENSION = "carebridge.listener_probe"
#: Where the dashboard's counts lead when the message browser is not registered.
MESSAGES_PATH = "/admin/messages"


def current_overview() -> Overview:
    """The dashboard's figures for this engine, with its listeners probed and its breakers read."""
    runtime = current_runtime()
    probe = current_app.extensions.get(PROBE_EXTENSION)
    if probe is None:
        probe = current_app.extensions.setdefault(
            PROBE_EXTENSION, ListenerProbe(runtime.settings.bind_host, runtime.settings.mllp_port))
    with runtime.database.read() as session:
        return build_overview(session, runtime.config, set(runtime.destinations), probe=probe,
                              breaker=runtime.delivery.breaker)


@console.get("/")
@requires("view")
def overview():
    view = current_overview()
    minutes = [(view.chart_start + timedelta(minutes=n)).strftime("%H:%M") for n in range(CHART_MINUTES)]
    browser = "console_messages.browse"
    messages_url = url_for(browser) if browser in current_app.view_functions else MESSAGES_PATH
    # ?partial=1 is the dashboard alone, without the page around it: dashboard.js swaps it in every few seconds.
    return render_template("console/overview.html", view=view, minutes=minutes, messages_url=messages_url,
                           partial=request.args.get("partial") == "1", refresh_seconds=REFRESH_SECONDS)
