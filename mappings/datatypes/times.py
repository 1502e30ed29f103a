"""DTM/TS/DT to FHIR date, dateTime and instant, keeping the precision and offset sent.

FHIR requires seconds and an offset once a time is given; HL7 allows ``YYYYMMDDHHMM`` and
no offset. Missing seconds become ``:00`` and a missing offset is the channel's timezone
at that moment (DST-aware), both documented in docs/mapping-guide.md.
"""

from __future__ import annotations

import re
from datetime import datetime

from foundation.errors import CarebridgeError
from mappings.datatypes.context import ConversionContext, component
from mappings.v2.message import Rep

_DTM = re.compile(
    r"^(?P<year>\d{4})(?P<month>\d{2})?(?P<day>\d{2})?(?P<hour>\d{2})?(?P<minute>\d{2})?"
    r"(?P<second>\d{2})?(?:\.(?P<fraction>\d{1,4}))?(?P<offset>[+-]\d{4})?$"
)


class InvalidDate(CarebridgeError, ValueError):
    """Not a valid HL7 DTM; the caller names the field."""


def _parts(rep: Rep) -> re.Match | None:
    # TS puts the DTM in component 1 (TS.2, degree of precision, is retired).
    text = component(rep, 1).strip()
    if not text:
        return None
    match = _DTM.match(text)
    if not match:
        raise InvalidDate("not a valid HL7 DTM date/time")
    try:
        datetime(int(match["year"]), int(match["month"] or 1), int(match["day"] or 1),
                 int(match["hour"] or 0), int(match["minute"] or 0), min(int(match["second"] or 0), 59))
    except ValueError:
        raise InvalidDate("not a valid calendar date/time") from None
    if match["offset"] and (int(match["offset"][1:3]) > 14 or int(match["offset"][3:]) > 59):
        raise InvalidDate("not a valid UTC offset")
    return match


def dtm_date(rep: Rep, context: ConversionContext) -> str | None:
    """DTM[date]: YYYY, YYYY-MM or YYYY-MM-DD, the time dropped (birthDate)."""
    match = _parts(rep)
    if not match:
        return None
    return "-".join(p for p in (match["year"], match["month"], match["day"]) if p)


def _offset(match: re.Match, context: ConversionContext) -> str:
    if match["offset"]:
        sign, hours, minutes = match["offset"][0], match["offset"][1:3], match["offset"][3:]
        return f"{sign}{hours}:{minutes}"
    local = datetime(int(match["year"]), int(match["month"]), int(match["day"]),
                     int(match["hour"] or 0), int(match["minute"] or 0), tzinfo=context.timezone)
    text = local.strftime("%z")
    return f"{text[:3]}:{text[3:]}"


def dtm_datetime(rep: Rep, context: ConversionContext) -> str | None:
    """DTM[dateTime]: the precision sent (year, month, day, or a time with offset)."""
    match = _parts(rep)
    if not match:
        return None
    if not match["hour"] or not match["day"]:
        return dtm_date(rep, context)
    time = f"{match['hour']}:{match['minute'] or '00'}:{match['second'] or '00'}"
    if match["fraction"]:
        time += f".{match['fraction']}"
    return f"{match['year']}-{match['month']}-{match['day']}T{time}{_offset(match, context)}"


def dtm_instant(rep: Rep, context: ConversionContext) -> str | None:
    """DTM[instant]: an instant needs a time; a date alone is taken as midnight in the channel's zone."""
    match = _parts(rep)
    if not match:
        return None
    if not match["month"] or not match["day"]:
        raise InvalidDate("an instant needs at least a full date")
    if not match["hour"]:
        return dtm_datetime([[f"{match['year']}{match['month']}{match['day']}0000{match['offset'] or ''}"]], context)
    return dtm_datetime(rep, context)


def dtm_timed_datetime(rep: Rep, context: ConversionContext) -> str | None:
    """DTM[dateTime] only when a time of day was sent (the guide's "IF PID-7 LENGTH GREATER
    THAN 8", birth time); ``None`` for a date alone."""
    match = _parts(rep)
    return dtm_datetime(rep, context) if match and match["hour"] and match["day"] else None
