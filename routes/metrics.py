"""``GET /metrics``: the engine's state for Prometheus (message and delivery counts, queue age)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST

from engine.metrics import render_metrics

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
def scrape():
    return Response(render_metrics(current_app.extensions["carebridge"].database), mimetype=CONTENT_TYPE_LATEST)
