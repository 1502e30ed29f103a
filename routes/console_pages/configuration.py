"""The console's configuration page: the channels, destinations and routes in force with their secrets
masked, when their files last changed and the engine started, and what ``config check`` says now."""

from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, current_app, render_template

from engine.operations.configuration import VALID, configuration_view
from routes.access_guard import requires
from routes.engine_runtime import current_runtime

console_config = Blueprint("console_config", __name__)

#: Where an app keeps the time it was built: the engine process's start, near enough.
STARTED_EXTENSION = "carebridge.started_at"


@console_config.record_once
def _note_start(state) -> None:
    state.app.extensions.setdefault(STARTED_EXTENSION, datetime.now(timezone.utc))


@console_config.get("", strict_slashes=False)
@requires("view")
def configuration():
    runtime = current_runtime()
    view = configuration_view(runtime.config, runtime.router.routes, set(runtime.destinations),
                              runtime.settings.config_path, runtime.settings.environ)
    return render_template("console/configuration.html", view=view, valid=view.check == VALID,
                           started=current_app.extensions.get(STARTED_EXTENSION))
