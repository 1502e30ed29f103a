"""``GET /metrics``: the engine's state for Prometheus (message and delivery counts, queue age)."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from engine.operations.metrics import render_metrics
from routes.engine_runtime import current_runtime

metrics = Blueprint("metrics", __name__)


@metrics.get("/metrics")
def scrape():
    return Response(render_metrics(current_runtime().database), mimetype=CONTENT_TYPE_LATEST)
