"""The 1,000-record workload: patients, practitioners, appointments, text and binary
documents and invoices, created, updated and cancelled in one interleaved stream, and the
checks that the simulator ends up holding each record once, in its latest version, under
the right client, with the sync log accounting for every attempt."""

from __future__ import annotations

import base64
import random
from collections import Counter
from dataclasses import dataclass, field

import fhir_records as fr
from sqlalchemy import select

from engine.db.models import Delivery, DeliveryStatus, SyncLogEntry
from engine.delivery import sync_log
from support.engine_process import wait_until

#: Record counts of the workload (creates 850, updates 150: 1,000 writes).
PATIENTS, PRACTITIONERS, APPOINTMENTS, NOTES, FILES, INVOICES = 150, 20, 300, 150, 80, 150
PATIENT_UPDATES, APPOINTMENT_CHANGES, INVOICE_UPDATES = 60, 50, 40
#: Simulator statuses of a FHIR appointment status the workload uses.
APPOINTMENT_STATUS = {"booked": "Booked", "cancelled": "Cancelled", "noshow": "NoShow"}
INVOICE_STATUS = {"issued": "Unpaid", "balanced": "Paid"}


@dataclass
class Workload:
    """Writes the records and remembers the latest version of each, for the checks."""

    seed: int = 5
    #: Writes that planned a delivery (Binary resources are not routed, only referenced).
    writes: int = 0
    patients: dict[str, dict] = field(default_factory=dict)
    practitioners: dict[str, dict] = field(default_factory=dict)
    appointments: dict[str, dict] = field(default_factory=dict)
    notes: dict[str, dict] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    invoices: dict[str, dict] = field(default_factory=dict)

    def _write(self, runtime, resource: dict, resource_id: str | None = None) -> str:
        outcome, planned = fr.write(runtime, resource, resource_id)
        if resource["resourceType"] != "Binary":
            assert outcome.changed and planned, "every write of the workload is a change with a delivery"
            self.writes += 1
        return outcome.id

    def run(self, runtime, halfway=None) -> None:
        """Write everything; ``halfway()`` is called once half the writes are done."""
        rng = random.Random(self.seed)
        for n in range(PRACTITIONERS):
            resource = fr.practitioner(family=f"Carer{n}")
            self.practitioners[self._write(runtime, resource)] = resource
        steps = (["patient"] * PATIENTS + ["appointment"] * APPOINTMENTS + ["note"] * NOTES + ["file"] * FILES
                 + ["invoice"] * INVOICES + ["patient-update"] * PATIENT_UPDATES
                 + ["appointment-change"] * APPOINTMENT_CHANGES + ["invoice-update"] * INVOICE_UPDATES)
        first, rest = steps[:PATIENTS // 3], steps[PATIENTS // 3:]
        rng.shuffle(rest)
        called = False
        for step in first + rest:
            if not self.patients and step != "patient":
                step = "patient"
            getattr(self, "_" + step.replace("-", "_"))(runtime, rng)
            if halfway and not called and self.writes >= 500:
                called = True
                halfway()

    def _patient(self, runtime, rng) -> None:
        resource = fr.patient(f"MRN{len(self.patients):05d}", family=f"Family{len(self.patients)}")
        self.patients[self._write(runtime, resource)] = resource

    def _patient_update(self, runtime, rng) -> None:
        patient_id = rng.choice(sorted(self.patients))
        resource = dict(self.patients[patient_id], name=[{"use": "official", "family": f"Renamed{rng.randrange(10**6)}",
                                                           "given": ["Ada"]}])
        self.patients[self._write(runtime, resource, patient_id)] = resource

    def _appointment(self, runtime, rng) -> None:
        practitioner = rng.choice(sorted(self.practitioners)) if rng.random() < 0.5 else None
        resource = fr.appointment(rng.choice(sorted(self.patients)), practitioner, slot=len(self.appointments))
        self.appointments[self._write(runtime, resource)] = resource

    def _appointment_change(self, runtime, rng) -> None:
        if not self.appointments:
            return self._appointment(runtime, rng)
        appointment_id = rng.choice(sorted(self.appointments))
        current = self.appointments[appointment_id]["status"]
        resource = dict(self.appointments[appointment_id],
                        status=rng.choice([s for s in ("cancelled", "noshow", "booked") if s != current]))
        self.appointments[self._write(runtime, resource, appointment_id)] = resource

    def _note(self, runtime, rng) -> None:
        resource = fr.text_document(rng.choice(sorted(self.patients)), f"Note {len(self.notes)}")
        self.notes[self._write(runtime, resource)] = resource

    def _file(self, runtime, rng) -> None:
        patient_id = rng.choice(sorted(self.patients))
        content = f"%PDF-1.4 file {len(self.files)}".encode()
        if len(self.files) % 2:
            binary_id = self._write(runtime, fr.binary(content))
            resource = fr.binary_document(patient_id, binary_id=binary_id)
        else:
            resource = fr.binary_document(patient_id, content=content)
        self.files[self._write(runtime, resource)] = (patient_id, content)

    def _invoice(self, runtime, rng) -> None:
        resource = fr.invoice(rng.choice(sorted(self.patients)), f"INV-{len(self.invoices):05d}",
                              amount=float(rng.randrange(-50, 500)))
        self.invoices[self._write(runtime, resource)] = resource

    def _invoice_update(self, runtime, rng) -> None:
        if not self.invoices:
            return self._invoice(runtime, rng)
        invoice_id = rng.choice(sorted(self.invoices))
        current = self.invoices[invoice_id]["status"]
        resource = dict(self.invoices[invoice_id], status="issued" if current == "balanced" else "balanced")
        self.invoices[self._write(runtime, resource, invoice_id)] = resource

    # Checks ----------------------------------------------------------------------------

    def all_final(self, database) -> bool:
        with database.read() as session:
            open_ = session.scalar(select(Delivery.id).where(
                Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT))).limit(1))
            planned = session.query(Delivery).count()
        return open_ is None and planned >= self.writes

    def wait_all_final(self, database, timeout: float) -> None:
        """Wait for every delivery to be final; on a time-out say what is still open and why."""
        try:
            wait_until(lambda: self.all_final(database), timeout=timeout, interval=1, message="every delivery final")
        except AssertionError as timed_out:
            with database.read() as session:
                open_ = list(session.scalars(select(Delivery).where(
                    Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.IN_FLIGHT))).limit(10)))
                raise AssertionError(f"{timed_out}; still open: " + "; ".join(
                    f"{d.id} {d.resource_type} {d.status} attempts={d.attempts} waiting_for={d.waiting_for} "
                    f"next={d.next_attempt_at} {d.last_error}" for d in open_)) from None

    def verify(self, simulator, database) -> None:
        with database.read() as session:
            statuses = Counter(session.scalars(select(Delivery.status)))
            failed = list(session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.FAILED)))
        assert not failed, [(d.id, d.resource_type, d.last_error) for d in failed[:5]]
        assert set(statuses) <= {"delivered", "superseded"}, statuses

        clients = _unique(simulator.records("clients"))
        client_of = {}
        assert len(clients) == len(self.patients)
        for patient_id, resource in self.patients.items():
            client = clients[f"{fr.SYSTEM}|{resource['identifier'][0]['value']}"]
            assert client["lastName"] == resource["name"][0]["family"]
            client_of[patient_id] = client["id"]

        members = _unique(simulator.records("team-members"))
        assert set(members) == set(self.practitioners)

        appointments = _unique(simulator.records("appointments"))
        assert set(appointments) == set(self.appointments)
        for appointment_id, resource in self.appointments.items():
            sent = appointments[appointment_id]
            actors = [p["actor"]["reference"] for p in resource["participant"]]
            assert sent["clientId"] == client_of[actors[0].split("/")[1]]
            assert sent["status"] == APPOINTMENT_STATUS[resource["status"]]
            if len(actors) > 1:
                assert sent["staffUserId"] == members[actors[1].split("/")[1]]["id"]

        notes = _unique(simulator.records("notes"))
        assert set(notes) == set(self.notes)
        for note_id, resource in self.notes.items():
            assert notes[note_id]["clientId"] == client_of[resource["subject"]["reference"].split("/")[1]]
            assert notes[note_id]["content"] == base64.b64decode(resource["content"][0]["attachment"]["data"]).decode()

        files = _unique(simulator.records("files"))
        assert set(files) == set(self.files)
        for file_id, (patient_id, content) in self.files.items():
            assert files[file_id]["clientId"] == client_of[patient_id]
            assert simulator.file_content(files[file_id]["id"]) == content

        invoices = _unique(simulator.records("invoices"))
        assert set(invoices) == set(self.invoices)
        for invoice_id, resource in self.invoices.items():
            assert invoices[invoice_id]["clientId"] == client_of[resource["subject"]["reference"].split("/")[1]]
            assert invoices[invoice_id]["status"] == INVOICE_STATUS[resource["status"]]

    @staticmethod
    def verify_sync_log(database) -> None:
        """Every attempt of every delivery has exactly one sync-log row, numbered 1..attempts."""
        with database.read() as session:
            attempts = dict(session.execute(select(Delivery.id, Delivery.attempts)).all())
            rows = session.execute(select(SyncLogEntry.delivery_id, SyncLogEntry.attempt)
                                   .where(SyncLogEntry.attempt.is_not(None))).all()
        logged: dict[int, list[int]] = {}
        for delivery_id, attempt in rows:
            logged.setdefault(delivery_id, []).append(attempt)
        for delivery_id, count in attempts.items():
            assert sorted(logged.get(delivery_id, [])) == list(range(1, count + 1)), (delivery_id, count,
                                                                                      logged.get(delivery_id))


def verify_traffic(simulator, database) -> dict[str, int]:
    """The simulator's own request log against the sync log: every request it received names a
    logged attempt (or a logged look-up held back by the rate limit), and no attempt changed
    Carepatron more than once. Returns what the faults did, for the caller to check they fired."""
    with database.read() as session:
        rows = session.execute(select(SyncLogEntry.delivery_id, SyncLogEntry.attempt, SyncLogEntry.status)).all()
    attempts = {(d, a) for d, a, _ in rows if a is not None}
    held_back = {d for d, _, status in rows if status == sync_log.THROTTLED}
    calls = simulator.requests()
    untagged = [c for c in calls if not c["attempt"]]
    assert not untagged, untagged[:3]
    tagged = [(tuple(int(n) for n in c["attempt"].split(".")), c) for c in calls]
    unlogged = [c for key, c in tagged if key not in attempts and key[0] not in held_back]
    assert not unlogged, unlogged[:3]
    changed = Counter(key for key, c in tagged if c["method"] in ("POST", "PUT") and c["status"] in (200, 201, 204))
    assert max(changed.values()) == 1, changed.most_common(3)     # at most one change per attempt
    assert sum(changed.values()) <= len(attempts)
    return {"requests": len(calls), "5xx": sum(1 for c in calls if (c["status"] or 0) >= 500),
            "429": sum(1 for c in calls if c["status"] == 429), "dropped": sum(1 for c in calls if c["status"] is None),
            "slow": sum(1 for c in calls if (c["durationMs"] or 0) >= 300)}


def _unique(records: list[dict]) -> dict[str, dict]:
    """Records by externalId, asserting none is there twice."""
    by_external = {}
    for record in records:
        assert record["externalId"] not in by_external, f"duplicate {record['externalId']}"
        by_external[record["externalId"]] = record
    return by_external
