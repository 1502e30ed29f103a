"""Operators find stored messages, see what became of them, and replay them."""

from datetime import timedelta

from sqlalchemy import update

from carebridge.app import create_app
from engine.db.models import Message, utcnow
from support.engine_process import wait_until
from support.hl7_messages import adt
from support.reloads import reload_once_settled


class BrokenThenFixedMapper:
    """Stands in for a mapping config an integrator fixes: fails until ``fixed`` is set."""

    def __init__(self, real):
        self.real = real
        self.fixed = False

    def map(self, raw, channel=None, default_charset="utf-8", header=None):
        from mappings.errors import MappingError

        if not self.fixed:
            raise MappingError("PID-3", "no identifier the mapping can use")
        return self.real.map(raw, channel, default_charset, header)


def test_messages_are_listed_with_counts_and_without_content(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    runtime.pipeline.receive_hl7(adt("A01", "LIST-1"), "mllp")
    runtime.pipeline.receive_hl7(b"not hl7 at all", "mllp")
    client = create_app(runtime).test_client()
    body = client.get("/admin/api/messages").get_json()
    assert body["counts"] == {"mapped": 1, "error": 1}
    assert [m["status"] for m in body["items"]] == ["error", "mapped"]
    assert all("raw" not in m for m in body["items"])
    assert b"Testperson" not in client.get("/admin/api/messages").data
    mapped = client.get("/admin/api/messages?status=mapped").get_json()["items"]
    assert [m["controlId"] for m in mapped] == ["LIST-1"]


def test_message_that_failed_mapping_is_replayed_after_the_fix(make_runtime, simulator):
    from carebridge.runtime import build_mapper
    from engine.config.engine_config import load_engine_config

    mapper = BrokenThenFixedMapper(None)
    runtime = make_runtime(mapper=mapper)
    mapper.real = build_mapper(runtime.settings, load_engine_config(runtime.settings.config_path, runtime.settings.environ))
    outcome = runtime.pipeline.receive_hl7(adt("A01", "FIX-1"), "mllp")
    assert outcome.status == "error" and outcome.error_location == "PID-3"
    mapper.fixed = True
    client = create_app(runtime).test_client()
    replayed = client.post(f"/admin/api/messages/{outcome.message_id}/replay").get_json()
    assert replayed["outcome"] == "accepted" and replayed["resources"][0].startswith("Patient/")
    assert client.get(f"/admin/api/messages/{outcome.message_id}").get_json()["status"] == "mapped"
    wait_until(lambda: simulator.records("clients"), message="the replayed patient at Carepatron")


def test_message_left_unprocessed_by_a_crash_is_recovered(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    stored = runtime.store.store_hl7(adt("A01", "STRANDED"), "mllp")  # stored, then the process died
    with runtime.database.write() as session:
        session.execute(update(Message).where(Message.id == stored.id)
                        .values(received_at=utcnow() - timedelta(minutes=5)))
    assert runtime.replay.recover_stranded() == [stored.id]
    assert runtime.store.get(stored.id).status == "mapped"


def test_admin_api_needs_a_user_when_authentication_is_on(make_runtime):
    runtime = make_runtime(workers=0, CAREBRIDGE_AUTH="on")
    runtime.access.users.add("oncall", "viewer", "a long enough password")
    client = create_app(runtime).test_client()
    assert client.get("/admin/api/messages").status_code == 401
    assert client.get("/admin/api/messages", headers={"Authorization": "Bearer wrong"}).status_code == 401
    token = runtime.access.users.issue_token("oncall")
    assert client.get("/admin/api/messages", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_unsupported_message_is_replayed_once_a_mapping_exists(make_runtime, tmp_path):
    runtime = make_runtime(mapper="bundled", workers=0)
    message = adt("A01", "NEW-TYPE").replace(b"ADT^A01^ADT_A01", b"ADT^A24^ADT_A24")
    outcome = runtime.pipeline.receive_hl7(message, "mllp")
    assert outcome.status == "error" and outcome.error_code == "200"
    assert runtime.store.get(outcome.message_id).status == "unsupported"

    # The integrator adds a mapping for the channel (config/mappings/<channel>/ beside engine.yaml).
    channel_dir = runtime.settings.config_path.parent / "mappings" / "mllp"
    channel_dir.mkdir(parents=True)
    (channel_dir / "adt_link.yaml").write_text(
        "kind: message\nname: adt_link\nhandles: [ADT^A24]\n"
        "resources:\n  - id: patient\n    segment: PID\n    map: pid_patient\n")
    assert reload_once_settled(runtime.mapper.reload_if_changed)

    replayed = runtime.replay.replay_where(status="unsupported")
    assert [o.status for o in replayed.values()] == ["accepted"]
    assert runtime.store.get(outcome.message_id).status == "mapped"


def test_metrics_count_messages_and_deliveries_by_status(make_runtime, simulator):
    runtime = make_runtime(mapper="bundled")
    runtime.pipeline.receive_hl7(adt("A01", "MET-1"), "mllp")
    runtime.pipeline.receive_hl7(b"garbage", "mllp")
    wait_until(lambda: simulator.records("clients"), message="delivery")
    client = create_app(runtime).test_client()

    def scraped():
        text = client.get("/metrics").get_data(as_text=True)
        return text if 'carebridge_deliveries{destination="carepatron",status="delivered"} 1.0' in text else None

    text = wait_until(scraped, timeout=10, message="the delivery in the metrics")
    assert 'carebridge_messages{channel="mllp",status="mapped"} 1.0' in text
    assert 'carebridge_messages{channel="mllp",status="error"} 1.0' in text


def test_console_shows_channels_failures_and_replays_a_message(make_runtime):
    runtime = make_runtime(mapper="bundled", workers=0)
    runtime.pipeline.receive_hl7(adt("A01", "CON-1"), "mllp")
    failed = runtime.pipeline.receive_hl7(adt("A01", "CON-2").replace(b"ADT^A01^ADT_A01", b"ADT^A24"), "mllp")
    client = create_app(runtime).test_client()
    page = client.get("/admin/").get_data(as_text=True)
    assert "<td>mllp</td>" in page and "unsupported" in page and "CON-2" in page
    assert "Testperson" not in page  # the console shows ids and codes, not patient data
    reply = client.post(f"/admin/messages/{failed.message_id}/replay", follow_redirects=True).get_data(as_text=True)
    assert f"Message {failed.message_id} replayed: error" in reply
