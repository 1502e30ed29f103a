"""``carebridge messages``: list, show and replay stored inbound messages from a shell."""

from __future__ import annotations

import argparse
import json
import sys

from engine.config.environment import Settings
from engine.pipeline.hl7 import OutcomeStatus


def _runtime(settings: Settings):
    from carebridge.runtime import build_runtime

    return build_runtime(settings)


def _list(args, settings: Settings) -> int:
    from engine.store.message_queries import MessageFilter, find_messages, summary

    runtime = _runtime(settings)
    with runtime.database.read() as session:
        found = find_messages(session, MessageFilter(status=args.status, message_type=args.type, channel=args.channel,
                                                     control_id=args.control_id, limit=args.limit))
    for message in found:
        print(json.dumps(summary(message)))
    return 0


def _show(args, settings: Settings) -> int:
    from engine.db.models import Message
    from engine.store.message_queries import summary

    runtime = _runtime(settings)
    with runtime.database.read() as session:
        message = session.get(Message, args.id)
        if message is None:
            print(f"no message {args.id}", file=sys.stderr)
            return 1
        if args.raw:
            sys.stdout.buffer.write(message.raw.replace(b"\r", b"\n"))
        else:
            print(json.dumps(summary(message), indent=2))
    return 0


def _replay(args, settings: Settings) -> int:
    from engine.operations.replay import UnreplayableMessage

    runtime = _runtime(settings)
    if args.diff:
        return _preview(args, runtime)
    try:
        if args.ids:
            outcomes = {i: runtime.replay.replay(i) for i in args.ids}
        elif args.status or args.type or args.channel:
            outcomes = runtime.replay.replay_where(status=args.status, message_type=args.type, channel=args.channel)
        else:
            print("name message ids, or --status/--type/--channel", file=sys.stderr)
            return 2
    except UnreplayableMessage as exc:
        print(str(exc), file=sys.stderr)
        return 1
    failed = 0
    for message_id, outcome in outcomes.items():
        print(f"message {message_id}: {outcome.status}" + (f" ({outcome.reason})" if outcome.reason else ""))
        failed += outcome.status != OutcomeStatus.ACCEPTED
    # Deliveries were queued on the configured broker; with the in-process broker a
    # running `carebridge serve` picks them up through its sweeper.
    return 1 if failed else 0


def _preview(args, runtime) -> int:
    """``replay --diff``: what replaying each message would change; nothing is replayed nor written."""
    from engine.operations.replay import UnreplayableMessage
    from engine.operations.replay_preview import as_lines, preview_replay

    if not args.ids or args.status or args.type or args.channel:
        print("--diff previews the messages named by id (no --status/--type/--channel)", file=sys.stderr)
        return 2
    for message_id in args.ids:
        try:
            found = preview_replay(runtime.database, runtime.repository, runtime.mapper, message_id,
                                   runtime.pipeline.channel_charsets)
        except UnreplayableMessage as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print("\n".join(as_lines(found, with_values=args.values)))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    messages = commands.add_parser("messages", help="stored inbound messages")
    sub = messages.add_subparsers(dest="messages_command", required=True)

    def filters(parser):
        parser.add_argument("--status", choices=["received", "mapped", "unsupported", "error"])
        parser.add_argument("--type", help="message type, e.g. ADT^A01")
        parser.add_argument("--channel")

    listing = sub.add_parser("list", help="newest first; ids, types and statuses, no content")
    filters(listing)
    listing.add_argument("--control-id")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=_list)

    show = sub.add_parser("show", help="one message's record, or its content with --raw")
    show.add_argument("id", type=int)
    show.add_argument("--raw", action="store_true", help="print the message as received (patient data)")
    show.set_defaults(handler=_show)

    replay = sub.add_parser("replay", help="send messages through mapping again")
    replay.add_argument("ids", nargs="*", type=int)
    filters(replay)
    replay.add_argument("--diff", action="store_true",
                        help="only preview: print what replaying the messages would change, replay nothing")
    replay.add_argument("--values", action="store_true",
                        help="with --diff, print the values before and after (patient data)")
    replay.set_defaults(handler=_replay)
