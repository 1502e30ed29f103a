"""SMART scopes as Carebridge reads them: v2 letters, v1 permissions, the query form, and what a
token request may narrow a client's scopes to."""

from __future__ import annotations

import pytest

from engine.access.fhir_scopes import needs_of
from engine.access.scopes import Grant, InvalidScope, parse_scope


@pytest.mark.parametrize("text, letters", [
    ("system/Patient.rs", "rs"), ("system/*.cruds", "cruds"), ("system/Patient.read", "rs"),
    ("system/*.write", "cud"), ("system/*.*", "cruds"), ("system/Observation.c", "c"),
])
def test_v1_and_v2_scopes_grant_their_letters(text, letters):
    assert parse_scope(text).letters == frozenset(letters)


@pytest.mark.parametrize("text", ["patient/Patient.rs", "user/*.read", "system/Patient.sr", "system/Patient.x",
                                  "system/patient.rs", "openid", "system/Observation.cruds?category=vital-signs"])
def test_scopes_carebridge_does_not_grant_are_refused(text):
    with pytest.raises(InvalidScope):
        parse_scope(text)


def test_a_grant_answers_per_type_and_interaction():
    grant = Grant.from_text("system/Patient.rs system/Appointment.cruds hl7.send")
    assert grant.allows("Patient", "r") and grant.allows("Patient", "s")
    assert not grant.allows("Patient", "c") and not grant.allows("Observation", "r")
    assert grant.allows("Appointment", "d") and grant.has("hl7.send")
    assert not Grant.from_text("system/*.rs").has("hl7.send")


def test_the_query_form_restricts_reading_to_matching_resources():
    grant = Grant.from_text("system/Observation.rs?category=vital-signs system/Patient.rs")
    assert grant.allows("Observation", "s")
    assert grant.restriction("Observation", "s") == [(("category", "vital-signs"),)]
    assert grant.restriction("Patient", "r") is None


def test_a_token_request_may_only_narrow_the_clients_scopes():
    client = Grant.from_text("system/*.cruds hl7.send")
    assert client.narrowed_to("system/Patient.rs").allows("Patient", "r")
    assert not client.narrowed_to("system/Patient.rs").allows("Patient", "c")
    with pytest.raises(InvalidScope):
        Grant.from_text("system/Patient.rs").narrowed_to("system/Patient.cruds")
    with pytest.raises(InvalidScope):
        Grant.from_text("system/Patient.rs").narrowed_to("hl7.send")


@pytest.mark.parametrize("method, path, query, expected", [
    ("GET", "Patient/1", [], {("Patient", "r")}),
    ("GET", "Patient/1/_history/2", [], {("Patient", "r")}),
    ("GET", "Patient", [("_revinclude", "Observation:subject")], {("Patient", "s"), ("Observation", "s")}),
    ("GET", "Appointment", [("_include", "Appointment:patient:Patient")], {("Appointment", "s"), ("Patient", "r")}),
    ("GET", "Patient", [("_has:Observation:subject:code", "x")], {("Patient", "s"), ("Observation", "s")}),
    ("GET", "Observation", [("subject:Patient.name", "x")], {("Observation", "s"), ("Patient", "s")}),
    ("GET", "Observation", [("subject.name", "x")], {("Observation", "s"), ("*", "s")}),
    ("POST", "Patient", [], {("Patient", "c")}),
    ("PUT", "Patient/1", [], {("Patient", "u")}),
    ("DELETE", "Patient", [("identifier", "x")], {("Patient", "d"), ("Patient", "s")}),
    ("GET", "Patient/_history", [], {("Patient", "s")}),
])
def test_each_interaction_needs_the_scopes_smart_names(method, path, query, expected):
    assert {(n.resource_type, n.letter) for n in needs_of(method, path, query, {})} == expected
