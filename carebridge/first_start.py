"""What ``carebridge serve`` settles about access before it listens: authentication may be off only
on loopback (said loudly), and an engine without users gets its ``admin``, whose generated
password is printed this once."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Callable

from carebridge.runtime import Runtime
from engine.access.control import check_auth_off_is_safe
from foundation.periodic import Periodic

log = logging.getLogger(__name__)

#: How often old audit records, and messages, deliveries, sync log and done/ files past their retention
#: period, are pruned.
PRUNE_SECONDS = 3600.0


def prepare_access(runtime: Runtime, listen_hosts: list[str]) -> None:
    access = runtime.access
    check_auth_off_is_safe(access.settings, listen_hosts)
    if not access.enabled:
        log.warning("authentication is OFF (CAREBRIDGE_AUTH=off): anyone on this machine may read and write "
                    "patient data; turn it on before connecting a hospital or an EHR")
        return
    password = runtime.settings.environ.get("CAREBRIDGE_ADMIN_PASSWORD") or None
    generated = access.users.ensure_admin(password)
    if generated:
        print("\n".join([
            "",
            "  Carebridge made the first user of this engine:",
            "    Username: admin",
            f"    Password: {generated}",
            "  It is shown this once. Sign in at /admin/ and choose your own password.",
            "",
        ]), file=sys.stderr, flush=True)
    elif password:
        log.info("first user admin made with CAREBRIDGE_ADMIN_PASSWORD")


def start_audit_pruning(runtime: Runtime) -> Periodic:
    """Prune the audit trail now (CAREBRIDGE_AUDIT_RETENTION_DAYS), and every hour the audit trail and what is
    past its retention period (CAREBRIDGE_RETAIN_*_DAYS, :mod:`engine.operations.retention`)."""
    from engine.operations.retention import build_retention

    retention = build_retention(runtime)  # a bad CAREBRIDGE_RETAIN_* stops the start here
    pruned = runtime.access.audit.prune()
    if pruned:
        log.info("pruned %d audit records older than the retention period", pruned)
    # The first retention prune of an engine may delete much: in the background, so the start is not held up.
    threading.Thread(target=_logged, args=(retention.prune,), name="carebridge-first-prune", daemon=True).start()
    timer = Periodic("carebridge-prune", PRUNE_SECONDS,
                     lambda: (_logged(runtime.access.audit.prune), _logged(retention.prune)))
    timer.start()
    return timer


def _logged(task: Callable[[], object]) -> None:
    """Run ``task``; a failure is logged and the next hour's prune tries again."""
    try:
        task()
    except Exception:
        log.exception("pruning failed; trying again in %.0fs", PRUNE_SECONDS)
