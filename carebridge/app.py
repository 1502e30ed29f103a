"""The Flask app factory: every HTTP surface hangs off the app built here, nothing at import time."""

from __future__ import annotations

import os

from flask import Flask

from carebridge.runtime import Runtime
from routes.admin import admin
from routes.console import console
from routes.engine_runtime import attach
from routes.fhir import fhir
from routes.health import health
from routes.hl7 import hl7_http
from routes.messages import messages
from routes.metrics import metrics
from routes.request_guards import install as install_request_guards


def create_app(runtime: Runtime) -> Flask:
    """Build the HTTP app of one engine.

    Example::

        app = create_app(build_runtime(Settings.from_env()))
    """
    app = Flask("carebridge")
    # Signs the console's flash messages only; a new key per process is enough for that.
    app.secret_key = runtime.settings.environ.get("CAREBRIDGE_SECRET_KEY") or os.urandom(32)
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.mllp_max_message_bytes
    attach(app, runtime)
    install_request_guards(app, runtime.settings)
    app.register_blueprint(health)
    app.register_blueprint(hl7_http)
    app.register_blueprint(metrics)
    app.register_blueprint(fhir)
    app.register_blueprint(messages, url_prefix="/admin/api")
    app.register_blueprint(console, url_prefix="/admin")
    app.register_blueprint(admin, url_prefix="/admin/api")
    return app

