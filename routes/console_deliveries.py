"""The console's deliveries: parked ones (the dead letters) grouped by destination and reason, any
status on request, and the operator's retry and cancel. Every action is shown for confirmation
first, then done by a second POST that says ``confirm=yes``; each delivery acted on is audited.

The list is a GET URL to share: ``/admin/deliveries?destination=carepatron&status=failed``.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, make_response, redirect, render_template, request, url_for

from engine.db.models import DeliveryStatus
from engine.operations.dead_letters import (
    MAX_CANCEL_REASON,
    cancel,
    find_deliveries,
    grouped_deliveries,
    retry,
)
from engine.routing.outbox import announce
from routes.access_guard import audit, caller, requires
from routes.engine_runtime import current_runtime

console_deliveries = Blueprint("console_deliveries", __name__, template_folder="templates")

#: The statuses the list filters by; ``all`` is any.
STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT, DeliveryStatus.DELIVERED,
            DeliveryStatus.SUPERSEDED, DeliveryStatus.SKIPPED, "all")
#: Deliveries one page lists (and so one "all shown" action takes at most).
PAGE_SIZE = 100
#: What each action does, for its confirmation page and its flash.
ACTIONS = {
    "retry": ("Retry", "will be sent again: attempts start over and the request carries a fresh idempotency key"),
    "cancel": ("Cancel", "will be cancelled: never sent, marked skipped, with your reason on the delivery and in "
                         "the sync log"),
}


def _filters(source) -> dict[str, str]:
    """The list's filters named in ``source`` (the query string or a form), for links back to it."""
    return {key: source[key] for key in ("destination", "status") if source.get(key)}


def _back() -> Response:
    return redirect(url_for(".parked", **_filters(request.form)))


@console_deliveries.get("", strict_slashes=False)
@requires("view")
def parked():
    status = request.args.get("status") or DeliveryStatus.FAILED
    if status not in STATUSES:
        return Response(f"status must be one of {', '.join(STATUSES)}\n", status=400, mimetype="text/plain")
    destination = request.args.get("destination") or None
    runtime = current_runtime()
    groups, total = grouped_deliveries(runtime.database, None if status == "all" else status, destination, PAGE_SIZE)
    parked_ids = [d["id"] for g in groups for d in g.deliveries if d["status"] == DeliveryStatus.FAILED]
    # A destination no longer configured still has its deliveries; the filter keeps offering it.
    destinations = list(dict.fromkeys([d.name for d in runtime.config.destinations] + [destination or ""]))
    return render_template("console/deliveries.html", groups=groups, total=total, status=status,
                           destination=destination, statuses=STATUSES, parked_ids=parked_ids,
                           shown=sum(len(g.deliveries) for g in groups), filters=_filters(request.args),
                           destinations=[name for name in destinations if name])


def _ids() -> list[int] | None:
    try:
        ids = sorted({int(value) for value in request.form.getlist("ids")})
    except ValueError:
        return None
    return ids if 0 < len(ids) <= PAGE_SIZE else None


def _confirm(action: str, ids: list[int], error: str | None = None, status: int = 200) -> Response:
    """The page saying what ``action`` will do to which deliveries, with its Confirm button."""
    found = find_deliveries(current_runtime().database, ids)
    label, effect = ACTIONS[action]
    return make_response(render_template(
        "console/confirm.html", action=action, label=label, effect=effect, deliveries=found,
        parked=[d for d in found if d["status"] == DeliveryStatus.FAILED], error=error, filters=_filters(request.form),
        reason=request.form.get("reason", ""), max_reason=MAX_CANCEL_REASON, target=url_for(f".{action}_deliveries"),
    ), status)


def _confirmed(action: str) -> list[int] | Response:
    """The ids the form names once it is confirmed; until then the answer to give (the confirmation,
    or back to the list when it names no delivery or too many)."""
    ids = _ids()
    if ids is None:
        flash(f"Choose between 1 and {PAGE_SIZE} deliveries to {action}.")
        return _back()
    return ids if request.form.get("confirm") == "yes" else _confirm(action, ids)


def _audited(action: str, ids: list[int], done: list[int]) -> None:
    for delivery_id in ids:
        audit(action, "console", status=200 if delivery_id in done else 409, entity_type="Delivery",
              entity_id=str(delivery_id))


def _said(verb: str, ids: list[int], done: list[int]) -> str:
    left = [i for i in ids if i not in done]
    text = f"{len(done)} {'delivery' if len(done) == 1 else 'deliveries'} {verb}" + (
        f": {', '.join(map(str, done))}" if done else "")
    return text + (f"; not parked, left alone: {', '.join(map(str, left))}" if left else "")


@console_deliveries.post("/retry")
@requires("operate")
def retry_deliveries():
    ids = _confirmed("retry")
    if isinstance(ids, Response):
        return ids
    runtime = current_runtime()
    retried = retry(runtime.database, ids)
    _audited("retry", ids, retried)
    announce(runtime.queue.enqueue, retried)
    flash(_said("will be tried again", ids, retried))
    return _back()


@console_deliveries.post("/cancel")
@requires("operate")
def cancel_deliveries():
    ids = _confirmed("cancel")
    if isinstance(ids, Response):
        return ids
    reason = request.form.get("reason", "").strip()
    if not reason or len(reason) > MAX_CANCEL_REASON:
        return _confirm("cancel", ids, f"Say why (at most {MAX_CANCEL_REASON} characters): the reason stays on "
                                       f"the delivery and in the sync log.", 400)
    cancelled = cancel(current_runtime().database, ids, reason, caller().agent.name)
    _audited("cancel", ids, cancelled)
    flash(_said("cancelled", ids, cancelled))
    return _back()
