"""The ``carebridge`` command: run the engine, run workers, migrate, and dry-run mappings."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from engine.config.environment import Settings
from foundation.yaml_files import ConfigError


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    # Alembic announces each of its plugins at INFO on every start; its migration lines stay.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _serve(args, settings: Settings) -> int:
    from carebridge.runner import serve

    serve(settings, http=args.http, mllp=args.mllp, workers=args.workers, files=args.files)
    return 0


def _worker(args, settings: Settings) -> int:
    from carebridge.runner import run_worker

    run_worker(settings, args.threads)
    return 0


def _db_upgrade(args, settings: Settings) -> int:
    from engine.db.database import Database
    from engine.db.migrations import current_revision, upgrade

    database = Database(settings.database_url)
    upgrade(database)
    print(f"database schema at revision {current_revision(database)}")
    database.dispose()
    return 0


def _map(args, settings: Settings) -> int:
    """Dry run: one line of JSON (a collection Bundle) per message; failures on stderr, exit 1.

    A message is decoded as its channel's would be (``default_charset``) and each resource is
    validated as the repository validates it before storing."""
    from carebridge.runtime import DEFAULT_CHARSET, build_mapper, channel_charsets
    from engine.config.engine_config import load_engine_config
    from engine.repository.validation import ResourceInvalid, validate_resource
    from foundation import decimal_json
    from mappings.errors import MappingError
    from mappings.v2.batch import split_batch

    config = load_engine_config(settings.config_path)
    mapper = build_mapper(settings, config)
    charset = channel_charsets(config).get(args.channel, DEFAULT_CHARSET)
    failures = 0
    for name in args.files:
        try:
            raw = Path(name).read_bytes()
        except OSError as exc:
            print(f"{name}: cannot read: {exc.strerror}", file=sys.stderr)
            failures += 1
            continue
        messages = split_batch(raw)
        if not messages:
            print(f"{name}: message 1: MSH: no HL7 v2 message (no MSH segment) in the file", file=sys.stderr)
            failures += 1
        for number, message in enumerate(messages, start=1):
            try:
                result = mapper.map(message, args.channel, charset)
                for mapped in result.resources:
                    validate_resource(mapped.resource)
            except MappingError as exc:
                print(f"{name}: message {number}: {exc}", file=sys.stderr)
                failures += 1
                continue
            except ResourceInvalid as exc:
                print(f"{name}: message {number}: {mapped.resource_type}: mapped resource is not valid FHIR: {exc}",
                      file=sys.stderr)
                failures += 1
                continue
            print(decimal_json.dumps(result.as_collection_bundle()))
    return 1 if failures else 0


def _mappings_check(args, settings: Settings) -> int:
    from carebridge.runtime import build_mapper
    from engine.config.engine_config import load_engine_config

    # Each problem is printed once below; the loader's log lines would repeat them.
    logging.getLogger("mappings").setLevel(logging.CRITICAL)
    try:
        problems = build_mapper(settings, load_engine_config(settings.config_path), strict=False).check()
    except ConfigError as exc:
        problems = str(exc).splitlines()
    for problem in problems:
        print(problem, file=sys.stderr)
    print("mapping configs: " + (f"{len(problems)} problem(s)" if problems else "all valid"))
    return 1 if problems else 0


def _config_check(args, settings: Settings) -> int:
    from engine.config.engine_config import load_engine_config

    config = load_engine_config(settings.config_path)
    print(f"{config.source}: valid ({len(config.channels)} channels, {len(config.destinations)} destinations, "
          f"{len(config.routes)} routes)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carebridge", description="Carebridge, a FHIR R4 integration engine.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the engine (HTTP, MLLP, and workers with the in-process broker)")
    serve.add_argument("--no-http", dest="http", action="store_false", help="do not serve HTTP")
    serve.add_argument("--no-mllp", dest="mllp", action="store_false", help="do not listen for MLLP")
    serve.add_argument("--no-files", dest="files", action="store_false",
                       help="do not watch the file channels (drop folders, SFTP): one process per engine should")
    serve.add_argument("--workers", dest="workers", action="store_true", default=None,
                       help="run delivery workers in this process (default: only with the in-process broker)")
    serve.add_argument("--no-workers", dest="workers", action="store_false")
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="run delivery workers for a shared broker (Redis, RabbitMQ)")
    worker.add_argument("--threads", type=int, default=None, help="worker threads (default CAREBRIDGE_WORKER_THREADS or 4)")
    worker.set_defaults(handler=_worker)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations up to the newest").set_defaults(handler=_db_upgrade)

    map_ = commands.add_parser("map", help="dry run: print the FHIR resources HL7 messages map to")
    map_.add_argument("files", nargs="+", metavar="FILE")
    map_.add_argument("--channel", default=None, help="apply this channel's mapping overrides")
    map_.set_defaults(handler=_map)

    mappings = commands.add_parser("mappings", help="mapping configs")
    mapping_commands = mappings.add_subparsers(dest="mappings_command", required=True)
    mapping_commands.add_parser("check", help="validate every mapping config").set_defaults(handler=_mappings_check)

    config = commands.add_parser("config", help="engine configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_commands.add_parser("check", help="validate config/engine.yaml").set_defaults(handler=_config_check)

    from carebridge.cli import messages as cli_messages

    cli_messages.register(commands)

    from carebridge.cli.operations import register as register_operations

    register_operations(commands)

    from carebridge.cli.access import register as register_access

    register_access(commands)
    return parser


#: Exit status when the reader of stdout goes away (``carebridge map FILE | head -1``): the
#: output is incomplete, so not success; quiet, since the reader chose to stop.
EXIT_OUTPUT_CLOSED = 1


def _stdout_closed() -> int:
    """Quiet end for a closed stdout: later writes (the interpreter's flush at exit) go to
    /dev/null instead of raising BrokenPipeError again (the Python docs' recipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OUTPUT_CLOSED


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        _configure_logging(settings.log_level)
        status = args.handler(args, settings) or 0
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit flush
        return status
    except BrokenPipeError:
        return _stdout_closed()
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from carebridge.runner import SchemaNotReady
        from engine.access.control import UnsafeAuthSetting
        from mappings.mapper import ChannelProblems

        if isinstance(exc, (SchemaNotReady, UnsafeAuthSetting)):
            print(str(exc), file=sys.stderr)
            return 2
        if isinstance(exc, ChannelProblems):
            print("mapping configs refused (carebridge mappings check lists every problem):", file=sys.stderr)
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
