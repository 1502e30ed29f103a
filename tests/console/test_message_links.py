"""What ties a message to the resources it wrote, kept for finding a message by its patient: written by
the pipeline with the resources, replaced by a replay, taken from the history by migration 0007 for
messages stored before it; and the ACK the receiver sent, kept with the message."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import insert, select

from engine.db.database import Database
from engine.db.migrations import upgrade
from engine.db.models import Message, MessageResource, ResourceVersion
from support.hl7_messages import adt


def links(runtime, message_id: int) -> list[tuple[str, int, bool]]:
    with runtime.database.read() as session:
        return [(r.resource_type, r.version_id, r.changed) for r in session.scalars(
            select(MessageResource).where(MessageResource.message_id == message_id))]


def test_a_message_is_linked_to_the_resources_it_wrote(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    outcome = runtime.pipeline.receive_hl7(adt("A01", "LINK-1"), "mllp")
    assert links(runtime, outcome.message_id) == [("Patient", 1, True)]


def test_a_resend_that_changes_nothing_is_linked_to_its_patient_all_the_same(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    runtime.pipeline.receive_hl7(adt("A01", "LINK-1"), "mllp")
    resent = runtime.pipeline.receive_hl7(adt("A01", "LINK-2"), "mllp")
    assert links(runtime, resent.message_id) == [("Patient", 1, False)]


def test_a_replay_replaces_the_links_of_the_message(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    first = runtime.pipeline.receive_hl7(adt("A01", "LINK-1"), "mllp")
    runtime.pipeline.receive_hl7(adt("A08", "LINK-2", city="Shelbyville"), "mllp")
    runtime.replay.replay(first.message_id)  # the older address again: version 3
    assert links(runtime, first.message_id) == [("Patient", 3, True)]


def test_the_receiver_keeps_the_ack_it_sent(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    ack = runtime.receivers["mllp"].receive(adt("A01", "LINK-ACK"), peer="127.0.0.1:1")
    with runtime.database.read() as session:
        kept = session.scalars(select(Message.ack).where(Message.control_id == "LINK-ACK")).one()
    assert kept.encode() == ack and "\rMSA|AA|LINK-ACK" in kept


def test_migration_0007_links_older_messages_through_their_versions(database_url):
    database = Database(database_url)
    try:
        upgrade(database, "0006_access")
        now = datetime(2026, 1, 1, tzinfo=timezone.utc)
        with database.engine.begin() as connection:
            connection.execute(insert(Message.__table__).values(
                id=7, channel="mllp", content_type="application/hl7-v2", sha256="0" * 64, size=1, raw=b"x",
                received_at=now, status="mapped", attempts=1))
            connection.execute(insert(ResourceVersion.__table__), [
                {"resource_type": "Patient", "id": "p1", "version_id": v, "last_updated": now, "method": "update",
                 "content": "{}", "message_id": 7} for v in (1, 2)])
        upgrade(database)
        with database.read() as session:
            assert [(r.message_id, r.resource_type, r.resource_id, r.version_id) for r in
                    session.scalars(select(MessageResource))] == [(7, "Patient", "p1", 2)]
    finally:
        database.dispose()
