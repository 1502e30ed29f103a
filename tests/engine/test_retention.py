"""Raw messages, finished deliveries, the sync log and done/ files go once past their retention period;
what is younger, or not finished, stays; a prune never holds up intake."""

import os
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select, update

from engine.config.environment import ConfigError
from engine.db.models import (Delivery, DeliveryStatus, Message, MessageResource, MessageStatus, ResourceRecord,
                              SyncLogEntry, utcnow)
from engine.operations.retention import (DEFAULT_DONE_FILES_DAYS, DEFAULT_MESSAGES_DAYS, Retention,
                                         RetentionSettings, build_retention, folder_done_dirs)
from support.hl7_messages import adt


def _age(runtime, model, key, ids, column: str, days: int) -> None:
    with runtime.database.write() as session:
        session.execute(update(model).where(key.in_(ids)).values({column: utcnow() - timedelta(days=days)}))


def _count(runtime, model, *where) -> int:
    with runtime.database.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _delivery(session, status: str, days: int) -> int:
    then = utcnow() - timedelta(days=days)
    row = Delivery(destination="carepatron", resource_type="Patient", resource_id="p1", resource_version=1,
                   order_key="Patient/p1", status=status, created_at=then, updated_at=then)
    session.add(row)
    session.flush()
    return row.id


def test_final_messages_past_the_period_go_with_their_resource_rows(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    old = runtime.pipeline.receive_hl7(adt("A01", "OLD-1", mrn="700001"), "mllp").message_id
    young = runtime.pipeline.receive_hl7(adt("A01", "YOUNG-1", mrn="700002"), "mllp").message_id
    waiting = runtime.store.store_hl7(adt("A01", "WAIT-1", mrn="700003"), "mllp").id
    _age(runtime, Message, Message.id, [old, waiting], "received_at", DEFAULT_MESSAGES_DAYS + 1)

    counts = build_retention(runtime).prune()

    assert counts.messages == 1 and counts.message_resources == 1
    assert _count(runtime, Message, Message.id == old) == 0
    assert _count(runtime, MessageResource, MessageResource.message_id == old) == 0
    assert _count(runtime, Message, Message.id.in_([young, waiting])) == 2  # young, and not yet processed
    assert _count(runtime, ResourceRecord, ResourceRecord.resource_type == "Patient") == 2  # resources stay


def test_delivered_and_skipped_deliveries_and_sync_log_past_their_periods_go(make_runtime):
    runtime = make_runtime(workers=0)
    with runtime.database.write() as session:
        gone = [_delivery(session, DeliveryStatus.DELIVERED, 91), _delivery(session, DeliveryStatus.SKIPPED, 91)]
        kept = [_delivery(session, DeliveryStatus.DELIVERED, 89), _delivery(session, DeliveryStatus.FAILED, 400),
                _delivery(session, DeliveryStatus.PENDING, 400)]
        for days in (366, 364):
            session.add(SyncLogEntry(destination="carepatron", resource_ref="Patient/p1", action="automatic",
                                     status="delivered", created_at=utcnow() - timedelta(days=days)))

    counts = build_retention(runtime).prune()

    assert (counts.deliveries, counts.sync_log) == (2, 1)
    with runtime.database.read() as session:
        assert sorted(session.scalars(select(Delivery.id))) == sorted(kept)
        assert len(session.scalars(select(SyncLogEntry.id)).all()) == 1
    assert not set(gone) & set(kept)


def test_a_delivery_another_still_waits_for_stays(make_runtime):
    runtime = make_runtime(workers=0)
    with runtime.database.write() as session:
        dependency = _delivery(session, DeliveryStatus.DELIVERED, 200)
        waiter = _delivery(session, DeliveryStatus.PENDING, 1)
        session.get(Delivery, waiter).waiting_for = dependency
    assert build_retention(runtime).prune().deliveries == 0


def test_done_files_go_once_they_have_been_in_done_for_the_period(make_runtime):
    runtime = make_runtime(workers=0)
    retention = build_retention(runtime)
    [done] = folder_done_dirs(runtime)
    done.mkdir(parents=True, exist_ok=True)
    (done / "adt.hl7").write_bytes(b"MSH|...")
    # An old modification time alone does not count: the move into done/ is what starts the clock.
    os.utime(done / "adt.hl7", (0, 0))

    assert retention.prune(utcnow() + timedelta(days=DEFAULT_DONE_FILES_DAYS - 1)).done_files == 0
    assert (done / "adt.hl7").exists()
    assert retention.prune(utcnow() + timedelta(days=DEFAULT_DONE_FILES_DAYS + 1)).done_files == 1
    assert not (done / "adt.hl7").exists()


def test_a_dry_run_counts_and_deletes_nothing(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    old = runtime.pipeline.receive_hl7(adt("A01", "DRY-1"), "mllp").message_id
    _age(runtime, Message, Message.id, [old], "received_at", 100)

    counts = build_retention(runtime).prune(dry_run=True)

    assert (counts.messages, counts.message_resources) == (1, 1)
    assert _count(runtime, Message, Message.id == old) == 1
    assert _count(runtime, MessageResource, MessageResource.message_id == old) == 1


def test_prune_command_prints_the_counts_and_dry_run_deletes_nothing(make_runtime, monkeypatch, capsys):
    from carebridge.cli.main import main

    runtime = make_runtime(mapper="bundled", workers=0)
    old = runtime.pipeline.receive_hl7(adt("A01", "CLI-1"), "mllp").message_id
    _age(runtime, Message, Message.id, [old], "received_at", 100)
    for name, value in runtime.settings.environ.items():
        monkeypatch.setenv(name, value)

    assert main(["prune", "--dry-run"]) == 0
    assert "would delete 1 messages" in capsys.readouterr().out
    assert _count(runtime, Message, Message.id == old) == 1
    assert main(["prune"]) == 0
    out = capsys.readouterr().out
    assert "deleted 1 messages" in out and "deleted 1 message resources" in out
    assert _count(runtime, Message, Message.id == old) == 0


@pytest.mark.parametrize("value", ["0", "-3", "soon"])
def test_a_retention_period_of_zero_or_not_a_whole_number_is_refused(value):
    with pytest.raises(ConfigError, match="CAREBRIDGE_RETAIN_SYNC_LOG_DAYS"):
        RetentionSettings.from_environ({"CAREBRIDGE_RETAIN_SYNC_LOG_DAYS": value})


def test_unset_or_empty_periods_are_the_defaults_and_a_huge_one_keeps_forever(make_runtime):
    assert RetentionSettings.from_environ({"CAREBRIDGE_RETAIN_MESSAGES_DAYS": ""}) == RetentionSettings()
    runtime = make_runtime(mapper="bundled", workers=0)
    old = runtime.pipeline.receive_hl7(adt("A01", "KEEP-1"), "mllp").message_id
    _age(runtime, Message, Message.id, [old], "received_at", 100 * 365)
    forever = RetentionSettings.from_environ({"CAREBRIDGE_RETAIN_MESSAGES_DAYS": "999999999"})
    assert Retention(runtime.database, forever).prune().messages == 0


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_intake_keeps_answering_while_a_hundred_thousand_messages_are_pruned(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    then = utcnow() - timedelta(days=DEFAULT_MESSAGES_DAYS + 10)
    rows = [{"channel": "mllp", "content_type": "application/hl7-v2", "sha256": f"{n:064x}", "size": 10,
             "raw": b"MSH|old", "received_at": then, "status": MessageStatus.MAPPED, "attempts": 1}
            for n in range(100_000)]
    with runtime.database.write() as session:
        session.execute(insert(Message), rows)
    result = {}
    pruner = threading.Thread(target=lambda: result.update(counts=build_retention(runtime).prune()))
    pruner.start()
    took = []
    for n in range(5):
        started = time.monotonic()
        outcome = runtime.pipeline.receive_hl7(adt("A08", f"LIVE-{n}", mrn=f"80000{n}"), "mllp")
        took.append(time.monotonic() - started)
        assert outcome.status == "accepted"
        time.sleep(0.2)
    assert pruner.is_alive(), "the prune ended before intake was tried alongside it"
    pruner.join(timeout=300)
    assert max(took) < 5, took
    assert result["counts"].messages == 100_000
    assert _count(runtime, Message) == _count(runtime, Message, Message.status == MessageStatus.MAPPED) == 5


def test_serve_prunes_in_the_background_at_start_and_then_hourly(make_runtime):
    from carebridge.first_start import start_audit_pruning
    from support.engine_process import wait_until

    runtime = make_runtime(mapper="bundled", workers=0)
    old = runtime.pipeline.receive_hl7(adt("A01", "SERVE-1"), "mllp").message_id
    _age(runtime, Message, Message.id, [old], "received_at", 100)
    timer = start_audit_pruning(runtime)
    try:
        wait_until(lambda: _count(runtime, Message, Message.id == old) == 0, message="the first prune")
        assert timer.name == "carebridge-prune" and timer.interval == 3600
    finally:
        timer.stop()
