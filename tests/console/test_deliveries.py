"""The console's deliveries page: parked deliveries grouped by destination and reason, filtered by
the query string; retry and cancel each shown for confirmation before a second POST does it,
audited per delivery and announced to the queue; a viewer sees the list without a button and is
refused the actions. Also the admin API's cancel."""

from __future__ import annotations

import re

from sqlalchemy import select

from engine.db.models import Delivery, SyncLogEntry
from support.access import bearer, csrf_of

REJECTED = "HTTP 422 injected-fault: The simulator was told to reject clients."


def parked(runtime, destination: str, reason: str | None, count: int = 1, status: str = "failed") -> list[int]:
    ids = []
    with runtime.database.write() as session:
        for _ in range(count):
            delivery = Delivery(destination=destination, resource_type="Patient", resource_id="pending-id",
                                resource_version=1, order_key="-", status=status, attempts=3, last_error=reason)
            session.add(delivery)
            session.flush()
            delivery.resource_id = delivery.order_key = f"p{delivery.id}"
            ids.append(delivery.id)
    return ids


def statuses(runtime, ids: list[int]) -> list[str]:
    with runtime.database.read() as session:
        return [session.get(Delivery, i).status for i in ids]


def audited(runtime, subtype: str) -> list[tuple[str, str, str, str]]:
    return sorted((r.agent, r.surface, r.entity_id, r.outcome) for r in runtime.access.audit.find(limit=500)
                  if r.subtype == subtype and r.entity_type == "Delivery")


def groups(page: str) -> dict[tuple[str, str], list[int]]:
    """(destination, reason) -> the delivery ids listed under it."""
    found = {}
    for section in re.findall(r'<section class="group".*?</section>', page, re.S):
        destination = re.search(r'data-destination="([^"]+)"', section).group(1)
        reason = re.search(r'<span class="reason">(.*?)</span>', section, re.S).group(1)
        found[(destination, reason)] = [int(i) for i in re.findall(r'<tr data-delivery="(\d+)"', section)]
    return found


def form_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'name="ids" value="(\d+)"', page)]


def post(client, path: str, page: str, ids: list[int], **fields):
    return client.post(path, data={"csrf_token": csrf_of(page), "ids": [str(i) for i in ids], **fields})


def test_parked_deliveries_are_grouped_by_destination_and_reason(secured, signed_in):
    rejected = parked(secured, "carepatron", REJECTED, 3)
    missing = (parked(secured, "carepatron", "references Patient/a1, which is not in the repository")
               + parked(secured, "carepatron", "references Patient/b2, which is not in the repository\nline two"))
    elsewhere = parked(secured, "webhook", REJECTED)
    parked(secured, "carepatron", None, status="delivered")
    page = signed_in("viewer").get("/admin/deliveries").get_data(as_text=True)
    assert groups(page) == {
        ("carepatron", REJECTED): sorted(rejected, reverse=True),
        ("carepatron", "references Patient/…, which is not in the repository"): sorted(missing, reverse=True),
        ("webhook", REJECTED): elsewhere,
    }
    assert "references Patient/b2, which is not in the repository" in page  # each row keeps its whole reason
    assert list(groups(page))[0] == ("carepatron", REJECTED)  # a destination's largest group first


def test_the_list_is_filtered_by_destination_and_status_from_the_query_string(secured, signed_in):
    [here] = parked(secured, "carepatron", REJECTED)
    parked(secured, "webhook", REJECTED)
    [sent] = parked(secured, "carepatron", None, status="delivered")
    client = signed_in("viewer")
    only = client.get("/admin/deliveries?destination=carepatron&status=failed").get_data(as_text=True)
    assert groups(only) == {("carepatron", REJECTED): [here]}
    delivered = client.get("/admin/deliveries?destination=carepatron&status=delivered").get_data(as_text=True)
    assert groups(delivered) == {("carepatron", "(no reason recorded)"): [sent]}
    assert client.get("/admin/deliveries?status=lost").status_code == 400


def test_retry_is_confirmed_first_then_done_audited_and_announced(secured, signed_in):
    ids = parked(secured, "carepatron", REJECTED, 2)
    [done] = parked(secured, "carepatron", None, status="delivered")
    announced = []
    secured.queue.enqueue = lambda delivery_ids, delay=None: announced.extend(delivery_ids)
    client = signed_in("operator", "olive")
    page = client.get("/admin/deliveries").get_data(as_text=True)
    assert form_ids(page).count(ids[0]) >= 2  # its own Retry, and "Retry all shown"

    confirm = post(client, "/admin/deliveries/retry", page, ids + [done])
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Retry 2 deliveries?" in text and "not parked: left alone" in text
    assert 'name="confirm" value="yes"' in text and sorted(form_ids(text)) == ids
    assert statuses(secured, ids) == ["failed", "failed"] and audited(secured, "retry") == []

    answer = post(client, "/admin/deliveries/retry", text, form_ids(text), confirm="yes")  # as the form sends
    assert answer.status_code == 302 and answer.headers["Location"] == "/admin/deliveries"
    assert statuses(secured, ids) == ["pending", "pending"] and sorted(announced) == ids
    assert audited(secured, "retry") == [("olive", "console", str(i), "0") for i in ids]
    listed = client.get("/admin/deliveries").get_data(as_text=True)
    assert "2 deliveries will be tried again" in listed and groups(listed) == {}


def test_retry_keeps_the_lists_filters(secured, signed_in):
    [one] = parked(secured, "carepatron", REJECTED)
    client = signed_in("operator")
    page = client.get("/admin/deliveries?destination=carepatron&status=failed").get_data(as_text=True)
    confirm = post(client, "/admin/deliveries/retry", page, [one], destination="carepatron", status="failed")
    assert 'href="/admin/deliveries?destination=carepatron&amp;status=failed">Back to the list' in (
        confirm.get_data(as_text=True))
    answer = post(client, "/admin/deliveries/retry", page, [one], destination="carepatron", status="failed",
                  confirm="yes")
    assert answer.headers["Location"] == "/admin/deliveries?destination=carepatron&status=failed"


def test_cancel_asks_for_a_reason_then_skips_the_delivery_for_good(secured, signed_in):
    ids = parked(secured, "carepatron", REJECTED, 2)
    client = signed_in("operator", "otto")
    page = client.get("/admin/deliveries").get_data(as_text=True)
    confirm = post(client, "/admin/deliveries/cancel", page, ids).get_data(as_text=True)
    assert "Cancel 2 deliveries?" in confirm and '<textarea id="reason" name="reason"' in confirm
    assert statuses(secured, ids) == ["failed", "failed"]

    unsaid = post(client, "/admin/deliveries/cancel", confirm, ids, confirm="yes", reason="  ")
    assert unsaid.status_code == 400 and "Say why" in unsaid.get_data(as_text=True)
    assert statuses(secured, ids) == ["failed", "failed"] and audited(secured, "cancel") == []

    done = post(client, "/admin/deliveries/cancel", confirm, ids, confirm="yes", reason="duplicate client, merged")
    assert done.status_code == 302
    assert statuses(secured, ids) == ["skipped", "skipped"]
    assert audited(secured, "cancel") == [("otto", "console", str(i), "0") for i in ids]
    with secured.database.read() as session:
        delivery = session.get(Delivery, ids[0])
        rows = session.scalars(select(SyncLogEntry).where(SyncLogEntry.delivery_id == ids[0])).all()
        assert delivery.last_error == "cancelled by otto: duplicate client, merged"
        assert [(r.action, r.status) for r in rows] == [("cancel", "skipped")]
        assert rows[0].details == f"cancelled by otto: duplicate client, merged (was parked: {REJECTED})"
    # A cancelled delivery is not parked any more: retrying it does nothing.
    again = post(client, "/admin/deliveries/retry", page, ids[:1], confirm="yes")
    assert again.status_code == 302 and statuses(secured, ids[:1]) == ["skipped"]
    assert audited(secured, "retry") == [("otto", "console", str(ids[0]), "4")]


def test_a_viewer_sees_no_buttons_and_is_refused_the_actions(secured, signed_in):
    ids = parked(secured, "carepatron", REJECTED, 2)
    client = signed_in("viewer", "vera")
    page = client.get("/admin/deliveries").get_data(as_text=True)
    assert set(groups(page)[("carepatron", REJECTED)]) == set(ids)
    assert re.findall(r"<button[^>]*>([^<]*)</button>", page) == ["Sign out", "Show"]
    for action in ("retry", "cancel"):
        for fields in ({}, {"confirm": "yes", "reason": "no"}):
            assert post(client, f"/admin/deliveries/{action}", page, ids, **fields).status_code == 403
    assert statuses(secured, ids) == ["failed", "failed"]


def test_an_operator_sees_retry_and_cancel_for_each_parked_delivery(secured, signed_in):
    parked(secured, "carepatron", REJECTED, 2)
    page = signed_in("operator").get("/admin/deliveries").get_data(as_text=True)
    buttons = re.findall(r"<button[^>]*>([^<]*)</button>", page)
    assert buttons.count("Retry") == 2 and buttons.count("Cancel…") == 2
    assert "Retry all shown (2)" in buttons and "Cancel all shown (2)…" in buttons


def test_the_admin_api_cancels_with_a_reason(secured):
    ids = parked(secured, "carepatron", REJECTED, 2)
    secured.access.users.add("ops", "operator", "console-test-password")
    token = bearer(secured.access.users.issue_token("ops"))
    client = secured.client
    assert client.post("/admin/api/deliveries/cancel", json={"ids": ids}, headers=token).status_code == 400
    answer = client.post("/admin/api/deliveries/cancel", json={"ids": ids + [999999], "reason": "test data"},
                         headers=token)
    assert answer.status_code == 200 and answer.get_json() == {"cancelled": ids, "count": 2}
    assert statuses(secured, ids) == ["skipped", "skipped"]
    assert audited(secured, "cancel") == sorted([("ops", "admin", str(i), "0") for i in ids]
                                                + [("ops", "admin", "999999", "4")])
    secured.access.users.add("vic", "viewer", "console-test-password")
    viewer = bearer(secured.access.users.issue_token("vic"))
    assert client.post("/admin/api/deliveries/cancel", json={"ids": ids, "reason": "x"},
                       headers=viewer).status_code == 403


def test_an_action_that_names_no_delivery_goes_back_to_the_list(secured, signed_in):
    client = signed_in("operator")
    page = client.get("/admin/deliveries").get_data(as_text=True)
    for ids in ([], ["12x"]):
        answer = client.post("/admin/deliveries/retry", data={"csrf_token": csrf_of(page), "ids": ids})
        assert answer.status_code == 302 and answer.headers["Location"] == "/admin/deliveries"
    assert "Choose between 1 and 100 deliveries to retry." in client.get("/admin/deliveries").get_data(as_text=True)
