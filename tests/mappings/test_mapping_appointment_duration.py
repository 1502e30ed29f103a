"""SCH-9 appointment duration with its SCH-10 unit becomes Appointment.minutesDuration:
minutes as sent, hours converted, other units left out."""

from __future__ import annotations

import pytest


def minutes(mapper, duration: str, unit: str) -> int | None:
    raw = ("MSH|^~\\&|CLINIC|HOSP|CB|CB|20240110080000+1000||SIU^S12|1|P|2.5.1\r"
           f"SCH|APT1^CLINIC|||||||FOLLOWUP|{duration}|{unit}\r"
           "PID|1||55^^^HOSP^MR||Doe^Jane\r").encode()
    appointment = next(r.resource for r in mapper.map(raw).resources if r.resource_type == "Appointment")
    return appointment.get("minutesDuration")


@pytest.mark.parametrize("unit", ["MIN", "min", "min^minute^UCUM", ""])
def test_a_duration_in_minutes_or_without_a_unit_is_kept(mapper, unit):
    assert minutes(mapper, "45", unit) == 45


@pytest.mark.parametrize("unit", ["HR", "h", "h^hour^UCUM", "hours"])
def test_a_duration_in_hours_is_converted_to_minutes(mapper, unit):
    assert minutes(mapper, "1.5", unit) == 90


def test_a_duration_in_another_unit_is_left_out(mapper):
    assert minutes(mapper, "2", "D") is None
