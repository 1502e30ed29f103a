"""The engine a blueprint serves: the one runtime the app factory hangs on the Flask app.

Blueprints know the runtime by what they call on it (its stations), never by its class: the
runtime is built by the wiring above them.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

#: The key of the engine's runtime in ``app.extensions``.
EXTENSION = "carebridge"


def attach(app: Flask, runtime: Any) -> None:
    """Hang ``runtime`` on ``app`` for the blueprints (the app factory's job)."""
    app.extensions[EXTENSION] = runtime


def current_runtime() -> Any:
    """The runtime of the app handling the current request."""
    return current_app.extensions[EXTENSION]
