"""The Flask app factory: every HTTP surface hangs off the app built here, nothing at import time."""

from __future__ import annotations

import logging
import os

from flask import Flask
from werkzeug.routing import IntegerConverter

from carebridge.runtime import Runtime
from engine.access.credentials import shared_secret
from engine.db.models import MAX_RECORD_ID
from routes.access_guard import install as install_access_guard
from routes.admin import admin
from routes.auth import auth
from routes.console import console
from routes.console_deliveries import console_deliveries
from routes.console_messages import console_messages
from routes.console_pages.admin_api import admin_more
from routes.console_pages.configuration import console_config
from routes.console_pages.openapi import openapi
from routes.console_pages.patients import console_patients
from routes.console_pages.people import console_people
from routes.console_pages.playground import console_playground
from routes.console_pages.replay import console_replay
from routes.engine_runtime import attach
from routes.fhir import fhir
from routes.health import health
from routes.hl7 import hl7_http
from routes.login import login
from routes.messages import messages
from routes.metrics import metrics
from routes.request_guards import install as install_request_guards


class RecordIdConverter(IntegerConverter):
    """``<int:...>`` as record ids: ASCII digits (``\\d`` would take "²"), at most :data:`MAX_RECORD_ID`."""

    regex = r"[0-9]+"

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_RECORD_ID)
        super().__init__(url_map, *args, **kwargs)


def create_app(runtime: Runtime) -> Flask:
    """Build the HTTP app of one engine.

    Example::

        app = create_app(build_runtime(Settings.from_env()))
    """
    app = Flask("carebridge")
    # Every <int:...> in a URL is a record id: ASCII digits within 64 bits, else the URL matches nothing (404).
    app.url_map.converters["int"] = RecordIdConverter
    # Signs the console's session cookies: one key for every process of the engine.
    app.secret_key = runtime.settings.environ.get("CAREBRIDGE_SECRET_KEY") or _session_key(runtime)
    app.config.update(MAX_CONTENT_LENGTH=runtime.settings.mllp_max_message_bytes,
                      SESSION_COOKIE_NAME="carebridge_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_SECURE=runtime.access.settings.secure_cookies)
    attach(app, runtime)
    install_request_guards(app, runtime.settings)
    install_access_guard(app)
    app.register_blueprint(auth)
    app.register_blueprint(login, url_prefix="/admin")
    app.register_blueprint(health)
    app.register_blueprint(hl7_http)
    app.register_blueprint(metrics)
    app.register_blueprint(fhir)
    app.register_blueprint(messages, url_prefix="/admin/api")
    app.register_blueprint(console, url_prefix="/admin")
    app.register_blueprint(console_deliveries, url_prefix="/admin/deliveries")
    app.register_blueprint(console_messages)
    app.register_blueprint(console_replay)
    app.register_blueprint(console_playground)
    app.register_blueprint(admin, url_prefix="/admin/api")
    app.register_blueprint(console_patients, url_prefix="/admin/patients")
    app.register_blueprint(console_config, url_prefix="/admin/configuration")
    app.register_blueprint(console_people, url_prefix="/admin/people")
    app.register_blueprint(admin_more, url_prefix="/admin/api")
    app.register_blueprint(openapi, url_prefix="/admin/api")
    return app



def _session_key(runtime: Runtime) -> str | bytes:
    try:
        return shared_secret(runtime.database, "session-key")
    except Exception as exc:  # noqa: BLE001 - a database without the schema yet: sessions end with the process
        logging.getLogger(__name__).warning("no shared session key (%s): console sessions last as long as this "
                                            "process", type(exc).__name__)
        return os.urandom(32)
