"""A local resource's ids at each destination (the cross-reference), as an operator sees and corrects them:
link a patient to the record a destination already holds, or unlink it so the next delivery creates one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.db.database import Database
from engine.db.models import CrossReference
from foundation.errors import CarebridgeError

#: Longest remote id a destination's cross-reference holds (the column's width).
MAX_REMOTE_ID = 255


class CrossReferenceError(CarebridgeError, ValueError):
    """A link that cannot be made as asked (no destination, an empty or over-long remote id)."""


def cross_references(database: Database, resource_type: str, local_id: str) -> list[dict[str, Any]]:
    """The resource's remote id at each destination, by destination name."""
    with database.read() as session:
        rows = session.scalars(select(CrossReference).where(
            CrossReference.resource_type == resource_type, CrossReference.local_id == local_id
        ).order_by(CrossReference.destination))
        return [{"destination": r.destination, "remote_id": r.remote_id,
                 "updated": r.updated_at.isoformat() if r.updated_at else None} for r in rows]


def link(database: Database, destination: str, resource_type: str, local_id: str, remote_id: str) -> None:
    """Point the resource at ``remote_id`` at ``destination`` (replacing the id it had there)."""
    remote_id = remote_id.strip()
    if not destination:
        raise CrossReferenceError("name the destination")
    if not remote_id or len(remote_id) > MAX_REMOTE_ID:
        raise CrossReferenceError(f"a remote id is 1 to {MAX_REMOTE_ID} characters")
    with database.write() as session:
        row = session.get(CrossReference, (destination, resource_type, local_id))
        if row is None:
            session.add(CrossReference(destination=destination, resource_type=resource_type, local_id=local_id,
                                       remote_id=remote_id))
        else:
            row.remote_id = remote_id


def unlink(database: Database, destination: str, resource_type: str, local_id: str) -> bool:
    """Forget the resource's id at ``destination``; whether there was one."""
    with database.write() as session:
        row = session.get(CrossReference, (destination, resource_type, local_id))
        if row is None:
            return False
        session.delete(row)
        return True
