"""``carebridge clients`` (API clients of the FHIR API and ``POST /hl7``) and ``carebridge users``
(people of the console and admin API): what an admin runs on the engine's machine."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from engine.access.control import AccessControl
from engine.config.environment import Settings


def _access(settings: Settings) -> AccessControl:
    from carebridge.runner import SchemaNotReady
    from engine.db.database import Database
    from engine.db.migrations import is_current, upgrade

    database = Database(settings.database_url)
    if not is_current(database):
        if not database.is_sqlite:
            raise SchemaNotReady("the database schema is not current: run `carebridge db upgrade` first")
        upgrade(database)
    return AccessControl.build(settings, database)


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def _clients_add(args, settings: Settings) -> int:
    from engine.access.scopes import InvalidScope

    jwks = None
    if args.jwks:
        try:
            jwks = json.loads(Path(args.jwks).read_text())
        except (OSError, ValueError) as exc:
            return _fail(f"{args.jwks}: not a readable JWKS file ({type(exc).__name__})")
    try:
        answer = _access(settings).clients.add(args.name, args.scope, jwks)
    except (InvalidScope, ValueError) as exc:
        return _fail(f"client not added: {exc}")
    print(json.dumps(answer, indent=2))
    return 0


def _clients_list(args, settings: Settings) -> int:
    print(json.dumps([c.as_dict() for c in _access(settings).clients.list()], indent=2))
    return 0


def _clients_revoke(args, settings: Settings) -> int:
    from engine.access.clients import UnknownClient

    try:
        revoked = _access(settings).clients.revoke(args.client)
    except UnknownClient as exc:
        return _fail(str(exc))
    print(json.dumps(revoked.as_dict(), indent=2))
    return 0


def _new_password() -> str:
    if os.environ.get("CAREBRIDGE_NEW_PASSWORD"):
        return os.environ["CAREBRIDGE_NEW_PASSWORD"]
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password for the new user: ")
    return sys.stdin.readline().rstrip("\n")


def _users_add(args, settings: Settings) -> int:
    from engine.access.users import UserError

    try:
        person = _access(settings).users.add(args.name, args.role, _new_password())
    except UserError as exc:
        return _fail(f"user not added: {exc}")
    print(json.dumps({"username": person.username, "role": person.role}))
    return 0


def _users_list(args, settings: Settings) -> int:
    print(json.dumps(_access(settings).users.list(), indent=2))
    return 0


def _users_disable(args, settings: Settings) -> int:
    from engine.access.users import UserError

    try:
        _access(settings).users.disable(args.name)
    except UserError as exc:
        return _fail(str(exc))
    print(json.dumps({"username": args.name, "disabled": True}))
    return 0


def _users_token(args, settings: Settings) -> int:
    from engine.access.users import UserError

    try:
        token = _access(settings).users.issue_token(args.name)
    except UserError as exc:
        return _fail(str(exc))
    print(json.dumps({"username": args.name, "token": token}))
    return 0


def register(commands) -> None:
    clients = commands.add_parser("clients", help="API clients of the FHIR API and POST /hl7 (OAuth2)")
    client_commands = clients.add_subparsers(dest="clients_command", required=True)
    add = client_commands.add_parser("add", help="register a client; prints its id (and secret) as JSON")
    add.add_argument("name")
    add.add_argument("--scope", required=True,
                     help='SMART system scopes, e.g. "system/Patient.rs system/Appointment.cruds hl7.send"')
    add.add_argument("--jwks", metavar="FILE", help="the client's public JWKS, for private_key_jwt (no secret)")
    add.set_defaults(handler=_clients_add)
    client_commands.add_parser("list", help="every client, without secrets").set_defaults(handler=_clients_list)
    revoke = client_commands.add_parser("revoke", help="revoke a client (its tokens stop working)")
    revoke.add_argument("client", help="client id or name")
    revoke.set_defaults(handler=_clients_revoke)

    users = commands.add_parser("users", help="console and admin API users")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    add = user_commands.add_parser("add", help="add a user (password from stdin or CAREBRIDGE_NEW_PASSWORD)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["admin", "integrator", "operator", "viewer"])
    add.set_defaults(handler=_users_add)
    user_commands.add_parser("list", help="every user and role").set_defaults(handler=_users_list)
    disable = user_commands.add_parser("disable", help="disable a user: sessions and tokens stop working")
    disable.add_argument("name")
    disable.set_defaults(handler=_users_disable)
    token = user_commands.add_parser("token", help="a personal access token for the admin API (shown once)")
    token.add_argument("name")
    token.set_defaults(handler=_users_token)
