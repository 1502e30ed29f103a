"""The operator's delivery and data commands: ``carebridge deliveries``, ``carebridge sync``,
``carebridge sync-log``, ``carebridge prune`` and ``carebridge patients erase``. Registered by
:mod:`carebridge.cli.main`; output is JSON lines or a short table.
"""

from __future__ import annotations

import argparse
import json
import sys

from engine.config.environment import Settings


def _runtime(settings: Settings):
    from carebridge.runtime import build_runtime

    return build_runtime(settings)


def _announce(runtime, delivery_ids: list[int]) -> None:
    """Queue the ids now; with the in-process broker the running engine's sweeper picks them up."""
    if delivery_ids and not runtime.settings.in_process_broker:
        runtime.queue.enqueue(delivery_ids)


def _print_rows(rows: list[dict], columns: tuple[str, ...], as_json: bool) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(row, default=str))
        return
    print("  ".join(columns))
    for row in rows:
        print("  ".join(str(row.get(column) if row.get(column) is not None else "-") for column in columns))


def _deliveries_list(args, settings: Settings) -> int:
    from engine.operations.dead_letters import list_deliveries

    runtime = _runtime(settings)
    try:
        rows = list_deliveries(runtime.database, None if args.status == "all" else args.status, args.destination,
                               args.limit)
    finally:
        runtime.close()
    _print_rows(rows, ("id", "destination", "resource", "version", "status", "attempts", "reason"), args.json)
    return 0


def _deliveries_show(args, settings: Settings) -> int:
    from engine.operations.dead_letters import get_delivery

    runtime = _runtime(settings)
    try:
        found = get_delivery(runtime.database, args.id)
    finally:
        runtime.close()
    if found is None:
        print(f"no delivery {args.id}", file=sys.stderr)
        return 1
    print(json.dumps(found, indent=1, default=str))
    return 0


def _deliveries_retry(args, settings: Settings) -> int:
    from engine.operations.dead_letters import retry

    if not args.ids and not args.all:
        print("name delivery ids, or --all for every parked delivery", file=sys.stderr)
        return 2
    runtime = _runtime(settings)
    try:
        retried = retry(runtime.database, None if args.all else args.ids, args.destination)
        _announce(runtime, retried)
    finally:
        runtime.close()
    print(f"retrying {len(retried)} deliveries" + (f": {' '.join(map(str, retried))}" if retried else ""))
    return 0 if retried or args.all else 1


def _sync_patient(args, settings: Settings) -> int:
    from engine.operations.patient_lookup import AmbiguousPatient, PatientNotFound
    from engine.operations.resync import UnknownDestination, resync_patient

    runtime = _runtime(settings)
    try:
        result = resync_patient(runtime.database, runtime.repository, runtime.router, args.identifier,
                                args.destination)
        _announce(runtime, result.delivery_ids)
    except (PatientNotFound, AmbiguousPatient, UnknownDestination) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print(f"sync of Patient/{result.patient_id}: {len(result.delivery_ids)} deliveries planned "
          f"({' '.join(map(str, result.delivery_ids))})")
    return 0


def _sync_log(args, settings: Settings) -> int:
    from engine.operations.patient_lookup import AmbiguousPatient, PatientNotFound
    from engine.operations.sync_log_queries import patient_log

    runtime = _runtime(settings)
    try:
        _, rows = patient_log(runtime.database, runtime.repository, args.patient, args.destination, args.limit)
    except (PatientNotFound, AmbiguousPatient) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        runtime.close()
    _print_rows(rows, ("time", "resource", "destination", "delivery", "attempt", "action", "status", "details"),
                args.json)
    return 0


def _prune(args, settings: Settings) -> int:
    from engine.operations.retention import build_retention

    runtime = _runtime(settings)
    try:
        counts = build_retention(runtime).prune(dry_run=args.dry_run)
    finally:
        runtime.close()
    verb = "would delete" if args.dry_run else "deleted"
    for kind, count in counts.as_dict().items():
        print(f"{verb} {count} {kind.replace('_', ' ')}")
    return 0


def _patients_erase(args, settings: Settings) -> int:
    from engine.access.audit import Agent
    from engine.operations.erasure import erase_patient, plan_erasure

    runtime = _runtime(settings)
    try:
        plan = plan_erasure(runtime.database, args.id)
        if plan is None:
            print(f"no patient {args.id}", file=sys.stderr)
            return 1
        if not args.yes:
            print(f"would erase Patient/{plan.patient_id}: {plan.describe()}")
            print("run again with --yes to erase", file=sys.stderr)
            return 1
        done = erase_patient(runtime.database, args.id, runtime.access.audit, Agent("user", "cli"), "cli")
    finally:
        runtime.close()
    print(f"erased Patient/{done.patient_id}: {done.describe()}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the delivery, sync and sync-log commands to the ``carebridge`` parser."""
    deliveries = commands.add_parser("deliveries", help="list, show and retry deliveries (parked ones by default)")
    sub = deliveries.add_subparsers(dest="deliveries_command", required=True)
    listing = sub.add_parser("list", help="deliveries by status, newest first")
    listing.add_argument("--status", default="failed",
                         help="failed (parked, the default), pending, in_flight, delivered, superseded, skipped or all")
    listing.add_argument("--destination", default=None)
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=_deliveries_list)
    show = sub.add_parser("show", help="one delivery's status, attempts and reason")
    show.add_argument("id", type=int)
    show.set_defaults(handler=_deliveries_show)
    retry = sub.add_parser("retry", help="send parked deliveries again")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID")
    retry.add_argument("--all", action="store_true", help="every parked delivery (of --destination, if given)")
    retry.add_argument("--destination", default=None)
    retry.set_defaults(handler=_deliveries_retry)

    sync = commands.add_parser("sync", help="manual resync")
    sync_sub = sync.add_subparsers(dest="sync_command", required=True)
    patient = sync_sub.add_parser("patient", help="deliver a patient again with their appointments, documents "
                                                  "and invoices")
    patient.add_argument("identifier", help="the patient's id, or an identifier as system|value or value")
    patient.add_argument("--destination", default=None, help="only this destination (default: every routed one)")
    patient.set_defaults(handler=_sync_patient)

    log = commands.add_parser("sync-log", help="a patient's synchronisation log, newest first")
    log.add_argument("patient", help="the patient's id, or an identifier as system|value or value")
    log.add_argument("--destination", default=None)
    log.add_argument("--limit", type=int, default=200)
    log.add_argument("--json", action="store_true", help="one JSON object per line")
    log.set_defaults(handler=_sync_log)

    prune = commands.add_parser("prune", help="delete raw messages, finished deliveries, sync log and done/ files "
                                              "past their retention period (CAREBRIDGE_RETAIN_*_DAYS)")
    prune.add_argument("--dry-run", action="store_true", help="print what would go, delete nothing")
    prune.set_defaults(handler=_prune)

    patients = commands.add_parser("patients", help="patients: erase one everywhere")
    patients_sub = patients.add_subparsers(dest="patients_command", required=True)
    erase = patients_sub.add_parser("erase", help="remove a patient, their records, messages and deliveries "
                                                  "everywhere (an audit record says it happened)")
    erase.add_argument("id", help="the patient's logical id")
    erase.add_argument("--yes", action="store_true", help="erase; without it, print what would go and exit 1")
    erase.set_defaults(handler=_patients_erase)
