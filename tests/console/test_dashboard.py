"""The console's dashboard and GET /admin/api/overview: per channel the messages by status (refused
included), the last message and the listener; per destination the deliveries by status, the oldest
waiting and the circuit breaker; the last hour a minute at a time; every count a link to the list
behind it; and a page that refreshes itself by script, with no inline script or style."""

from __future__ import annotations

import hashlib
import re
import socket
import time
from datetime import datetime, timedelta, timezone

from engine.config.engine_config import ChannelConfig
from engine.db.models import Delivery, Message, SyncLogEntry, utcnow
from engine.delivery.breaker import BreakerSettings
from engine.operations.overview import CHART_MINUTES, ListenerProbe, build_overview

#: A fixed "now" for the per-minute buckets: 10:30:15 UTC, so the chart's first minute is 09:31.
NOW = datetime(2026, 12, 4, 10, 30, 15, tzinfo=timezone.utc)


def add_messages(runtime, channel: str, status: str, *times: datetime) -> None:
    with runtime.database.write() as session:
        for n, received in enumerate(times):
            raw = f"MSH|^~\\&|HIS|HOSP|CB|CB|||ADT^A01|{channel}-{status}-{n}|P|2.5.1\r".encode()
            session.add(Message(channel=channel, sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), raw=raw,
                                status=status, received_at=received, message_type="ADT^A01"))


def add_deliveries(runtime, destination: str, status: str, count: int = 1, created: datetime | None = None) -> None:
    with runtime.database.write() as session:
        for n in range(count):
            session.add(Delivery(destination=destination, resource_type="Patient", resource_id=f"{status}-{n}",
                                 resource_version=1, order_key=f"Patient/{status}-{n}", status=status,
                                 created_at=created or utcnow()))


def add_sync_rows(runtime, destination: str, status: str, *times: datetime) -> None:
    with runtime.database.write() as session:
        for moment in times:
            session.add(SyncLogEntry(destination=destination, resource_ref="Patient/p", action="automatic",
                                     status=status, created_at=moment))


def overview_json(client) -> dict:
    answer = client.get("/admin/api/overview")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def named(items: list[dict], name: str) -> dict:
    return next(item for item in items if item["name"] == name)


def cell(page: str, attribute: str, name: str, status: str) -> str:
    """The inside of the dashboard's cell for one channel's (or destination's) status."""
    found = re.search(rf'<td class="num" {attribute}="{name}" data-status="{status}">(.*?)</td>', page, re.S)
    assert found, f"no {status} cell for {name}"
    return found.group(1)


def test_each_channel_counts_its_messages_by_status_refused_included(secured, signed_in):
    now = utcnow()
    add_messages(secured, "mllp", "mapped", now, now)
    add_messages(secured, "mllp", "received", now)
    add_messages(secured, "mllp", "unsupported", now)
    add_messages(secured, "mllp", "error", now)
    add_messages(secured, "mllp", "refused", now, now, now)
    add_messages(secured, "inbox", "mapped", now)
    client = signed_in("viewer")

    mllp = named(overview_json(client)["channels"], "mllp")
    assert mllp["counts"] == {"received": 1, "mapped": 2, "unsupported": 1, "error": 1, "refused": 3}
    assert named(overview_json(client)["channels"], "inbox")["counts"]["mapped"] == 1
    page = client.get("/admin/").get_data(as_text=True)
    assert cell(page, "data-channel", "mllp", "refused") == (
        '<a href="/admin/messages?channel=mllp&amp;status=refused" class="bad">3</a>')
    assert cell(page, "data-channel", "mllp", "mapped") == '<a href="/admin/messages?channel=mllp&amp;status=mapped">2</a>'
    assert cell(page, "data-channel", "inbox", "error") == '<span class="muted">0</span>'


def test_the_last_message_time_is_the_newest_of_any_status(secured, signed_in):
    newest = utcnow().replace(microsecond=0) - timedelta(minutes=3)
    add_messages(secured, "mllp", "mapped", newest - timedelta(hours=2))
    add_messages(secured, "mllp", "refused", newest)
    mllp = named(overview_json(signed_in("viewer"))["channels"], "mllp")
    assert datetime.fromisoformat(mllp["last_received"]) == newest


def test_messages_are_counted_a_minute_at_a_time_over_the_last_hour(secured):
    add_messages(secured, "mllp", "mapped", NOW - timedelta(seconds=10), NOW.replace(second=0))       # this minute
    add_messages(secured, "mllp", "error", NOW - timedelta(minutes=5))                                # 10:25
    add_messages(secured, "mllp", "refused", datetime(2026, 12, 4, 9, 31, 0, tzinfo=timezone.utc))    # first minute
    add_messages(secured, "mllp", "mapped", datetime(2026, 12, 4, 9, 30, 59, tzinfo=timezone.utc))    # before it
    add_messages(secured, "inbox", "mapped", NOW - timedelta(minutes=1))
    with secured.database.read() as session:
        view = build_overview(session, secured.config, set(), now=NOW)
    mllp, inbox = (next(c for c in view.channels if c.name == name) for name in ("mllp", "inbox"))
    assert view.chart_start == datetime(2026, 12, 4, 9, 31, tzinfo=timezone.utc)
    assert len(mllp.per_minute) == CHART_MINUTES
    assert {n: count for n, count in enumerate(mllp.per_minute) if count} == {0: 1, 54: 1, 59: 2}
    assert {n: count for n, count in enumerate(inbox.per_minute) if count} == {58: 1}


def test_the_chart_is_inline_svg_with_a_bar_per_busy_minute(secured, signed_in):
    now = utcnow()
    add_messages(secured, "mllp", "mapped", now - timedelta(minutes=10), now - timedelta(minutes=10),
                 now - timedelta(minutes=20))
    client = signed_in("viewer")
    page = client.get("/admin/").get_data(as_text=True)
    chart = re.search(r'<td class="chart" data-channel="mllp" data-last-hour="3">(.*?)</td>', page, re.S).group(1)
    assert chart.count("<rect ") == 2 and "<svg" in chart and "style" not in chart
    assert named(overview_json(client)["channels"], "mllp")["per_minute"].count(0) == CHART_MINUTES - 2


def test_each_destination_counts_its_deliveries_and_the_oldest_waiting(secured, signed_in):
    add_deliveries(secured, "carepatron", "pending", 2, created=utcnow() - timedelta(minutes=7))
    add_deliveries(secured, "carepatron", "in_flight", 1)
    add_deliveries(secured, "carepatron", "delivered", 4)
    add_deliveries(secured, "carepatron", "failed", 3)
    client = signed_in("viewer")
    carepatron = named(overview_json(client)["destinations"], "carepatron")
    assert carepatron["counts"] == {"pending": 2, "in_flight": 1, "delivered": 4, "failed": 3}
    assert 7 * 60 <= carepatron["oldest_pending_seconds"] < 8 * 60
    page = client.get("/admin/").get_data(as_text=True)
    assert cell(page, "data-destination", "carepatron", "failed") == (
        '<a href="/admin/deliveries?destination=carepatron&amp;status=failed" class="bad">3</a>')


def test_deliveries_a_minute_come_from_the_sync_logs_successes(secured):
    add_sync_rows(secured, "carepatron", "success", NOW - timedelta(seconds=5), NOW - timedelta(minutes=30),
                  NOW - timedelta(minutes=29, seconds=50), NOW - timedelta(hours=2))
    add_sync_rows(secured, "carepatron", "failed", NOW - timedelta(seconds=5))
    add_sync_rows(secured, "carepatron", "requested", NOW - timedelta(seconds=5))
    with secured.database.read() as session:
        view = build_overview(session, secured.config, set(), now=NOW)
    carepatron = next(d for d in view.destinations if d.name == "carepatron")
    assert {n: count for n, count in enumerate(carepatron.per_minute) if count} == {29: 2, 59: 1}


def test_the_breaker_shows_closed_open_and_half_open(secured, signed_in):
    breaker = secured.delivery.breaker
    breaker.settings["carepatron"] = BreakerSettings(failure_threshold=2, open_seconds=0.5)
    client = signed_in("viewer")

    def state() -> str:
        return named(overview_json(client)["destinations"], "carepatron")["breaker"]

    assert state() == "closed"
    breaker.failed("carepatron")
    assert state() == "closed"          # one failure in a row is below the threshold
    breaker.failed("carepatron")
    assert state() == "open"
    assert '<td class="breaker-open" data-destination="carepatron" data-breaker>open</td>' in (
        client.get("/admin/").get_data(as_text=True))
    time.sleep(0.6)
    assert state() == "half-open"
    assert state() == "half-open"       # reading the state takes no probe slot: a worker may still probe
    assert breaker.check("carepatron") is None
    breaker.succeeded("carepatron")
    assert state() == "closed"


def test_the_listener_is_up_when_its_port_accepts_and_n_a_for_file_channels(secured, signed_in):
    channels = overview_json(signed_in("viewer"))["channels"]
    assert named(channels, "mllp")["listener"] == "up"
    assert named(channels, "inbox")["listener"] == "n/a"


def test_the_listener_probe_is_cached_a_few_seconds_and_then_sees_it_down():
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    clock = [100.0]
    probe = ListenerProbe("0.0.0.0", port, cache_seconds=5, clock=lambda: clock[0])
    mllp = ChannelConfig("mllp", "mllp", {})
    assert probe.host == "127.0.0.1" and probe.state(mllp) == "up"
    listening.close()
    clock[0] += 4
    assert probe.state(mllp) == "up"
    clock[0] += 2
    assert probe.state(mllp) == "down"
    assert probe.state(ChannelConfig("mllp", "mllp", {"enabled": False})) == "off"


def test_the_overview_api_needs_a_user_and_any_role_may_read_it(secured, signed_in):
    assert secured.client.get("/admin/api/overview").status_code == 401
    answer = overview_json(signed_in("viewer"))
    assert answer["chart_minutes"] == CHART_MINUTES
    assert {c["name"] for c in answer["channels"]} == {"mllp", "inbox"}
    assert {d["name"] for d in answer["destinations"]} == {"carepatron"}


def test_the_page_refreshes_by_script_and_has_no_inline_script_or_style(secured, signed_in):
    client = signed_in("viewer")
    answer = client.get("/admin/")
    page = answer.get_data(as_text=True)
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    assert 'http-equiv="refresh"' not in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/admin/static/console/dashboard.js" defer>']
    assert " style=" not in page and "<style" not in page
    assert '<a href="/admin/">Refresh</a>' in page
    assert client.get("/admin/static/console/dashboard.js").status_code == 200


def test_the_partial_dashboard_is_the_dashboard_alone(secured, signed_in):
    add_messages(secured, "mllp", "mapped", utcnow())
    fragment = signed_in("viewer").get("/admin/?partial=1").get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="dashboard"') and fragment.rstrip().endswith("</div>")
    assert "<nav" not in fragment and "<script" not in fragment and "<html" not in fragment
    assert cell(fragment, "data-channel", "mllp", "mapped").endswith(">1</a>")


def test_a_viewer_sees_the_dashboard_without_action_buttons(secured, signed_in):
    add_messages(secured, "mllp", "error", utcnow())
    page = signed_in("viewer").get("/admin/").get_data(as_text=True)
    assert re.findall(r"<button[^>]*>([^<]*)</button>", page) == ["Sign out"]
