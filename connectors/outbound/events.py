"""The event document the webhook and file-drop destinations send: what changed and the
resource as it is now (or as it was, for a deletion).
"""

from __future__ import annotations

from typing import Any

from engine.delivery.destination import DeliveryItem

#: Event names: a create or update, or a deletion.
UPSERT, DELETE = "upsert", "delete"


def event_of(item: DeliveryItem) -> dict[str, Any]:
    """``{"event", "delivery", "resourceType", "id", "versionId", "resource"}`` for one delivery."""
    resource = item.resource
    return {
        "event": DELETE if item.deleted else UPSERT,
        "delivery": item.delivery_id,
        "resourceType": resource["resourceType"],
        "id": resource["id"],
        "versionId": item.version or None,
        "resource": None if item.deleted else resource,
    }
