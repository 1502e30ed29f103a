"""Scalar HL7 values (ST, ID, NM, boolean) and ED to Attachment (the guide's ED[Attachment])."""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from foundation.errors import CarebridgeError
from mappings.datatypes.context import ConversionContext, component
from mappings.v2.message import Rep

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)$")


class InvalidValue(CarebridgeError, ValueError):
    """A value that does not fit its declared HL7 type; the caller names the field."""


def string(rep: Rep, context: ConversionContext) -> str | None:
    """ST/ID/IS: component 1 as text (the whole value when a path names a component)."""
    return component(rep, 1) or None


def number(rep: Rep, context: ConversionContext) -> int | Decimal | None:
    """NM: a decimal; HL7 allows a leading + and a trailing point, FHIR JSON wants a number.

    A Decimal keeps the digits the sender wrote: FHIR says ``7.20`` is more precise than ``7.2``.
    """
    text = component(rep, 1).strip()
    if not text:
        return None
    if not _NUMBER.match(text):
        raise InvalidValue("not a valid HL7 NM number")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidValue("not a valid HL7 NM number") from None
    return int(value) if value == value.to_integral_value() and "." not in text else value


def boolean(rep: Rep, context: ConversionContext) -> bool | None:
    """ID[boolean] (table 0136): Y true, N false, anything else not mapped."""
    return {"Y": True, "N": False}.get(component(rep, 1).upper())


#: ED.2 type of data (table 0191) to a MIME type family when ED.3 names only the subtype.
_MEDIA_FAMILY = {"AP": "application", "IM": "image", "AU": "audio", "TEXT": "text", "MULTIPART": "multipart"}


def ed_attachment(rep: Rep, context: ConversionContext) -> dict[str, Any] | None:
    """ED[Attachment]: ED.3 (with ED.2) the content type, ED.5 the data, decoded by ED.4
    (Base64 kept, Hex re-encoded as base64, A/none taken as text)."""
    encoding, data = component(rep, 4).upper(), component(rep, 5)
    if not data:
        return None
    subtype, family = component(rep, 3), _MEDIA_FAMILY.get(component(rep, 2).upper(), "application")
    content_type = subtype if "/" in subtype else (f"{family}/{subtype.lower()}" if subtype else "application/octet-stream")
    try:
        if encoding == "BASE64":
            raw = base64.b64decode(data.replace("\n", ""), validate=True)
        elif encoding == "HEX":
            raw = binascii.unhexlify(data)
        else:
            raw = data.encode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidValue(f"ED.5 is not valid {encoding.lower() or 'text'} data") from None
    return {"contentType": content_type, "data": base64.b64encode(raw).decode("ascii")}
