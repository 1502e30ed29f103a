"""A FHIR R4 server stand-in: read, update (by id and conditionally on identifier), delete,
and referential integrity (a reference to a resource it does not hold is a 422)."""

from __future__ import annotations

import threading
import uuid

from flask import Flask, jsonify, request


def _references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def create_fhir_standin() -> tuple[Flask, dict[str, dict[str, dict]]]:
    """The app and its store, ``{type: {id: resource}}``."""
    app = Flask("fhir-standin")
    store: dict[str, dict[str, dict]] = {}
    lock = threading.Lock()

    def outcome(status: int, text: str):
        return jsonify(resourceType="OperationOutcome", issue=[{"severity": "error", "code": "processing",
                                                                "diagnostics": text}]), status

    def save(resource_type: str, resource_id: str | None, body: dict):
        for reference in _references(body):
            kind, _, target = reference.partition("/")
            if target not in store.get(kind, {}):
                return outcome(422, f"unknown reference {kind}")
        with lock:
            if resource_id is None:
                system, _, value = request.args["identifier"].partition("|")
                resource_id = next((rid for rid, r in store.get(resource_type, {}).items()
                                    if {"system": system, "value": value} in r.get("identifier", [])), None)
            created = resource_id is None or resource_id not in store.get(resource_type, {})
            resource_id = resource_id or uuid.uuid4().hex
            body = {**body, "id": resource_id}
            store.setdefault(resource_type, {})[resource_id] = body
        return jsonify(body), 201 if created else 200

    @app.get("/metadata")
    def metadata():
        return jsonify(resourceType="CapabilityStatement", fhirVersion="4.0.1")

    @app.put("/<resource_type>/<resource_id>")
    def update(resource_type, resource_id):
        return save(resource_type, resource_id, request.get_json(force=True))

    @app.put("/<resource_type>")
    def conditional_update(resource_type):
        return save(resource_type, None, request.get_json(force=True))

    @app.delete("/<resource_type>/<resource_id>")
    def delete(resource_type, resource_id):
        with lock:
            store.get(resource_type, {}).pop(resource_id, None)
        return "", 204

    return app, store
