"""The shapes of the contract's resources (``docs/carepatron-contract.md``) and their validation.

Each kind names its fields with a validator, its required fields, the fields that point at
another kind's record, and the query parameters its list accepts. Anything else is an error:
the engine must send no field the contract does not name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Mapping

#: A validator returns the errors of one value, keyed by a path relative to it ("" for itself).
Validator = Callable[[Any], dict[str, list[str]]]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UTC_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?Z")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2}))?"
)
_CURRENCY = re.compile(r"[A-Z]{3}")


def _fail(message: str) -> dict[str, list[str]]:
    return {"": [message]}


def string(value: Any) -> dict[str, list[str]]:
    return {} if isinstance(value, str) else _fail("must be a string")


def number(value: Any) -> dict[str, list[str]]:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return {} if ok else _fail("must be a number")


def calendar_date(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return _fail("must be a date YYYY-MM-DD")
    try:
        date.fromisoformat(value)
    except ValueError:
        return _fail("is not a calendar date")
    return {}


def utc_datetime(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, str) or not _UTC_DATETIME.fullmatch(value):
        return _fail("must be an ISO 8601 UTC date-time ending in Z")
    return _parses_as_datetime(value)


def iso_datetime(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, str) or not _ISO_DATETIME.fullmatch(value):
        return _fail("must be an ISO 8601 date or date-time with a zone")
    return _parses_as_datetime(value)


def _parses_as_datetime(value: str) -> dict[str, list[str]]:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _fail("is not a valid date-time")
    return {}


def currency(value: Any) -> dict[str, list[str]]:
    ok = isinstance(value, str) and _CURRENCY.fullmatch(value)
    return {} if ok else _fail("must be an ISO 4217 code such as AUD")


def one_of(*allowed: str) -> Validator:
    def check(value: Any) -> dict[str, list[str]]:
        return {} if value in allowed else _fail("must be one of " + ", ".join(allowed))

    return check


def obj(fields: Mapping[str, Validator]) -> Validator:
    """A nested object whose members are all optional and none unknown."""

    def check(value: Any) -> dict[str, list[str]]:
        if not isinstance(value, dict):
            return _fail("must be an object")
        errors: dict[str, list[str]] = {}
        for name, member in value.items():
            if name not in fields:
                errors.setdefault(name, []).append("is not a field of this contract")
            elif member is not None:
                _merge(errors, name, fields[name](member))
        return errors

    return check


def list_of(item: Validator) -> Validator:
    def check(value: Any) -> dict[str, list[str]]:
        if not isinstance(value, list):
            return _fail("must be a list")
        errors: dict[str, list[str]] = {}
        for index, member in enumerate(value):
            _merge(errors, f"[{index}]", item(member))
        return errors

    return check


def _merge(errors: dict[str, list[str]], prefix: str, found: dict[str, list[str]]) -> None:
    for path, messages in found.items():
        if not path:
            key = prefix
        elif path.startswith("["):
            key = prefix + path
        else:
            key = f"{prefix}.{path}"
        errors.setdefault(key, []).extend(messages)


@dataclass(frozen=True)
class Kind:
    """One resource collection of the contract, e.g. ``clients``."""

    name: str
    #: Prefix of the opaque ids the simulator assigns, e.g. ``cli`` for ``cli_3f9a...``.
    id_prefix: str
    fields: Mapping[str, Validator]
    required: frozenset[str] = frozenset()
    #: Fields holding the id of another kind's record, which must exist.
    references: Mapping[str, str] = field(default_factory=dict)
    #: Query parameters a list accepts besides ``limit`` and ``cursor``.
    filters: frozenset[str] = frozenset({"externalId"})
    #: The kind whose record holds this one in its path (notes and files live under a client).
    parent: str | None = None
    #: Checks across fields, run once every field is valid on its own.
    rules: tuple[Callable[[dict[str, Any]], dict[str, list[str]]], ...] = ()

    def validate(self, body: Any, read_only: Mapping[str, Any]) -> dict[str, list[str]]:
        """Errors of a POST or PUT body; ``read_only`` maps fields the body may only echo."""
        if not isinstance(body, dict):
            return {"": ["the body must be a JSON object"]}
        errors: dict[str, list[str]] = {}
        for name, value in body.items():
            if name in read_only:
                if value != read_only[name]:
                    errors.setdefault(name, []).append("is read-only")
            elif name not in self.fields:
                errors.setdefault(name, []).append("is not a field of this contract")
            elif value is not None:
                _merge(errors, name, self.fields[name](value))
        for name in sorted(self.required):
            if body.get(name) in (None, ""):
                errors.setdefault(name, []).append("is required")
        if not errors:
            for rule in self.rules:
                errors.update(rule(body))
        return errors


_ADDRESS = obj(
    {name: string for name in ("streetAddress", "city", "state", "zipCode", "country")}
)

_INVOICE_ITEM = obj(
    {
        "date": calendar_date,
        "description": string,
        "serviceCode": string,
        "quantity": number,
        "price": number,
        "taxRate": number,
    }
)

CLIENTS = Kind(
    name="clients",
    id_prefix="cli",
    fields={
        "firstName": string,
        "lastName": string,
        "middleNames": string,
        "email": string,
        "phoneNumber": string,
        "dateOfBirth": calendar_date,
        "sex": one_of("male", "female", "other", "unknown"),
        "address": _ADDRESS,
        "externalId": string,
    },
    required=frozenset({"firstName", "lastName"}),
    filters=frozenset({"externalId", "email"}),
)

TEAM_MEMBERS = Kind(
    name="team-members",
    id_prefix="tm",
    fields={
        name: string
        for name in ("firstName", "lastName", "email", "mobile", "jobTitle", "externalId")
    },
    required=frozenset({"firstName", "lastName"}),
    filters=frozenset({"externalId", "email"}),
)

def _ends_after_start(body: dict[str, Any]) -> dict[str, list[str]]:
    start = datetime.fromisoformat(body["startDateUtc"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(body["endDateUtc"].replace("Z", "+00:00"))
    return {} if end >= start else {"endDateUtc": ["must not be before startDateUtc"]}


APPOINTMENTS = Kind(
    name="appointments",
    id_prefix="apt",
    fields={
        "clientId": string,
        "staffUserId": string,
        "startDateUtc": utc_datetime,
        "endDateUtc": utc_datetime,
        "appointmentType": string,
        "status": one_of("Pending", "Booked", "Arrived", "Completed", "Cancelled", "NoShow"),
        "notes": string,
        "externalId": string,
    },
    required=frozenset({"clientId", "startDateUtc", "endDateUtc"}),
    references={"clientId": "clients", "staffUserId": "team-members"},
    filters=frozenset({"externalId", "clientId"}),
    rules=(_ends_after_start,),
)

NOTES = Kind(
    name="notes",
    id_prefix="note",
    fields={"title": string, "content": string, "date": iso_datetime, "externalId": string},
    required=frozenset({"content"}),
    parent="clients",
)

FILES = Kind(
    name="files",
    id_prefix="file",
    fields={"name": string, "description": string, "externalId": string},
    parent="clients",
)

INVOICES = Kind(
    name="invoices",
    id_prefix="inv",
    fields={
        "clientId": string,
        "invoiceNumber": string,
        "issueDate": calendar_date,
        "dueDate": calendar_date,
        "currency": currency,
        "status": one_of("Draft", "Unpaid", "Paid", "Void"),
        "items": list_of(_INVOICE_ITEM),
        "externalId": string,
    },
    required=frozenset({"clientId"}),
    references={"clientId": "clients"},
    filters=frozenset({"externalId", "clientId"}),
)

#: Every kind, by the name used in URLs and in ``CarepatronSimulator.records()``.
KINDS: dict[str, Kind] = {
    kind.name: kind for kind in (CLIENTS, TEAM_MEMBERS, APPOINTMENTS, NOTES, FILES, INVOICES)
}
