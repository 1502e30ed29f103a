"""Cancellations and deletes: a cancelled or no-show appointment changes its status at
Carepatron; a deleted appointment is cancelled, a deleted invoice voided; a deleted patient
or an entered-in-error note is not propagated and says so."""

from __future__ import annotations

import fhir_records as fr
from test_carepatron_kinds import settle

from carebridge.app import create_app
from support.engine_process import wait_until


def booked(runtime):
    patient, first = fr.write(runtime, fr.patient("C-1"))
    appointment, ids = fr.write(runtime, fr.appointment(patient.id))
    settle(runtime, first + ids)
    return patient, appointment


def test_cancelled_appointment_updates_the_status_at_carepatron(make_runtime, simulator):
    runtime = make_runtime()
    patient, appointment = booked(runtime)
    _, ids = fr.write(runtime, fr.appointment(patient.id, status="cancelled"), resource_id=appointment.id)
    settle(runtime, ids)
    [sent] = simulator.records("appointments")
    assert sent["status"] == "Cancelled"


def test_no_show_appointment_updates_the_status_at_carepatron(make_runtime, simulator):
    runtime = make_runtime()
    patient, appointment = booked(runtime)
    _, ids = fr.write(runtime, fr.appointment(patient.id, status="noshow"), resource_id=appointment.id)
    settle(runtime, ids)
    assert simulator.records("appointments")[0]["status"] == "NoShow"


def test_deleted_appointment_is_cancelled_at_carepatron(make_runtime, simulator):
    runtime = make_runtime()
    _, appointment = booked(runtime)
    _, ids = fr.delete(runtime, "Appointment", appointment.id)
    [done] = settle(runtime, ids)
    assert done.status == "delivered"
    [sent] = simulator.records("appointments")
    assert sent["status"] == "Cancelled"


def test_deleted_invoice_is_voided_at_carepatron(make_runtime, simulator):
    runtime = make_runtime()
    patient, first = fr.write(runtime, fr.patient("C-2"))
    invoice, ids = fr.write(runtime, fr.invoice(patient.id, "INV-9"))
    settle(runtime, first + ids)
    _, ids = fr.delete(runtime, "Invoice", invoice.id)
    settle(runtime, ids)
    assert simulator.records("invoices")[0]["status"] == "Void"


def test_deleted_patient_is_not_propagated_and_the_reason_is_recorded(make_runtime, simulator):
    runtime = make_runtime()
    patient, first = fr.write(runtime, fr.patient("C-3"))
    settle(runtime, first)
    _, ids = fr.delete(runtime, "Patient", patient.id)
    [done] = settle(runtime, ids)
    assert done.status == "skipped" and "no way to remove a client" in done.last_error
    assert len(simulator.records("clients")) == 1


def test_entered_in_error_note_is_not_propagated(make_runtime, simulator):
    runtime = make_runtime()
    patient, first = fr.write(runtime, fr.patient("C-4"))
    note, ids = fr.write(runtime, fr.text_document(patient.id))
    settle(runtime, first + ids)
    _, ids = fr.write(runtime, {**fr.text_document(patient.id), "status": "entered-in-error"}, resource_id=note.id)
    [done] = settle(runtime, ids)
    assert done.status == "skipped" and "marked as removed" in done.last_error


def test_appointment_deleted_through_the_fhir_api_is_cancelled_at_carepatron(make_runtime, simulator):
    runtime = make_runtime()
    _, appointment = booked(runtime)
    response = create_app(runtime).test_client().delete(f"/fhir/Appointment/{appointment.id}")
    assert response.status_code in (200, 204)
    wait_until(lambda: simulator.records("appointments")[0]["status"] == "Cancelled",
               message="the API delete to reach Carepatron as a cancellation")
