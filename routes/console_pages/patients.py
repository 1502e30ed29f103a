"""The console's patients: search by identifier or name, and one page per patient with their
identifiers, cross-references at each destination, documents, appointments, invoices and sync log.
Names are patient data: searching and reading need ``raw`` and are audited; linking, unlinking and
resyncing need ``operate`` and are audited too. Searches are GET URLs: ``/admin/patients?identifier=100001``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from engine.fhir_api.exchange import FhirRequest
from engine.fhir_api.interactions import FhirApi
from engine.operations.cross_references import CrossReferenceError, cross_references, link, unlink
from engine.operations.patient_lookup import AmbiguousPatient, PatientNotFound
from engine.operations.resync import UnknownDestination, resync_patient
from engine.operations.sync_log_queries import patient_log
from engine.routing.outbox import announce
from routes.access_guard import audit, requires
from routes.engine_runtime import current_runtime

console_patients = Blueprint("console_patients", __name__)

#: The search form's fields and the FHIR search parameter each becomes.
SEARCH_FIELDS = ("identifier", "system", "family", "given")
#: Most patients a search lists, and most of each kind of record a patient's page lists.
PAGE_SIZE = 50
#: A patient's records on their page: (heading, resource type, the search parameter naming the patient).
RECORDS = (("Documents", "DocumentReference", "subject"), ("Appointments", "Appointment", "patient"),
           ("Invoices", "Invoice", "subject"))


def _search(resource_type: str, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The current resources a FHIR search finds (the FHIR API's own search, without HTTP)."""
    runtime = current_runtime()
    base = request.host_url.rstrip("/") + "/fhir"
    answer = FhirApi(runtime.fhir_writer).handle(
        FhirRequest("GET", resource_type, base, [*query, ("_count", str(PAGE_SIZE))]))
    if answer.status != 200 or not answer.body:
        return []
    return [entry["resource"] for entry in answer.body.get("entry") or []
            if entry.get("resource", {}).get("resourceType") == resource_type]


def _query(args) -> list[tuple[str, str]]:
    """The FHIR search parameters the form names: ``identifier`` (``system|value`` with a system), names."""
    value, system = (args.get("identifier") or "").strip(), (args.get("system") or "").strip()
    query = [("identifier", f"{system}|{value}" if system else value)] if value else []
    return query + [(name, args[name].strip()) for name in ("family", "given") if (args.get(name) or "").strip()]


@console_patients.get("", strict_slashes=False)
@requires("raw")
def search():
    form = {name: request.args.get(name, "") for name in SEARCH_FIELDS}
    query = _query(request.args)
    patients = None
    if query:
        patients = _search("Patient", query)
        audit("search", "console", entity_type="Patient", query=[name for name, _ in query])
    return render_template("console/patients.html", form=form, patients=patients, page_size=PAGE_SIZE)


def _patient(patient_id: str) -> dict[str, Any]:
    runtime = current_runtime()
    with runtime.database.read() as session:
        found = runtime.repository.current(session, "Patient", patient_id)
    if found is None:
        abort(Response("No current patient has that id.\n", status=404, mimetype="text/plain"))
    return found


@console_patients.get("/<patient_id>")
@requires("raw")
def detail(patient_id: str):
    runtime = current_runtime()
    patient = _patient(patient_id)
    reference = f"Patient/{patient_id}"
    records = [(heading, resource_type, _search(resource_type, [(param, reference)]))
               for heading, resource_type, param in RECORDS]
    try:
        _, log = patient_log(runtime.database, runtime.repository, patient_id)
    except (PatientNotFound, AmbiguousPatient):
        log = []
    audit("read", "console", entity_type="Patient", entity_id=patient_id)
    destinations = sorted({d.name for d in runtime.config.destinations})
    return render_template("console/patients_detail.html", patient=patient, records=records, log=log,
                           cross_references=cross_references(runtime.database, "Patient", patient_id),
                           destinations=destinations, active=sorted(runtime.router.active_destinations))


def _back(patient_id: str) -> Response:
    return redirect(url_for(".detail", patient_id=patient_id))


@console_patients.post("/<patient_id>/cross-references")
@requires("operate")
def link_cross_reference(patient_id: str):
    _patient(patient_id)
    destination = request.form.get("destination", "").strip()
    if destination not in {d.name for d in current_runtime().config.destinations}:
        audit("link", "console", status=400, entity_type="Patient", entity_id=patient_id)
        flash(f"No destination named {destination!r}.")
        return _back(patient_id)
    try:
        link(current_runtime().database, destination, "Patient", patient_id, request.form.get("remote_id", ""))
    except CrossReferenceError as exc:
        audit("link", "console", status=400, entity_type="Patient", entity_id=patient_id)
        flash(f"Not linked: {exc}.")
        return _back(patient_id)
    audit("link", "console", entity_type="Patient", entity_id=patient_id, detail=f"destination {destination}")
    flash(f"Linked to its record at {destination}.")
    return _back(patient_id)


@console_patients.post("/<patient_id>/cross-references/unlink")
@requires("operate")
def unlink_cross_reference(patient_id: str):
    _patient(patient_id)
    destination = request.form.get("destination", "").strip()
    done = unlink(current_runtime().database, destination, "Patient", patient_id)
    audit("unlink", "console", status=200 if done else 404, entity_type="Patient", entity_id=patient_id,
          detail=f"destination {destination}"[:255])
    flash(f"Unlinked from {destination}: its next delivery there creates a record." if done
          else f"There was no link to {destination}.")
    return _back(patient_id)


@console_patients.post("/<patient_id>/resync")
@requires("operate")
def resync(patient_id: str):
    runtime = current_runtime()
    destination = request.form.get("destination") or None
    try:
        result = resync_patient(runtime.database, runtime.repository, runtime.router, patient_id, destination)
    except PatientNotFound:
        audit("resync", "console", status=404, entity_type="Patient", entity_id=patient_id)
        abort(Response("No current patient has that id.\n", status=404, mimetype="text/plain"))
    except (AmbiguousPatient, UnknownDestination) as exc:
        audit("resync", "console", status=400, entity_type="Patient", entity_id=patient_id)
        flash(f"Not resynced: {exc}.")
        return _back(patient_id)
    audit("resync", "console", entity_type="Patient", entity_id=patient_id)
    announce(runtime.queue.enqueue, result.delivery_ids)
    count = len(result.delivery_ids)
    flash(f"Resync planned: {count} {'delivery' if count == 1 else 'deliveries'}"
          + (f" ({', '.join(map(str, result.delivery_ids))})." if count else ": no route sends these records now."))
    return _back(patient_id)
