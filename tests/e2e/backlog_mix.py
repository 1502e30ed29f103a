"""The backlog of issue 12: 135 HL7 v2 records of five kinds (60 patients by ADT A01, 20
appointments by SIU S12, 20 documents by MDM T02, 10 invoices by DFT P03, 25 updates by A08)
sent over MLLP to `carebridge serve` on PostgreSQL + Redis with two separate worker processes,
while the Carepatron simulator answers every 7th request 429 (Retry-After: 1), fails 30% with
5xx and adds 50 ms, and one worker is killed with SIGKILL midway. Used by the end-to-end test
and by ``benchmarks/backlog_drain.py``."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import hl7
from hl7.client import MLLPClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from engine.db.database import normalise_url
from engine.db.models import Delivery, DeliveryStatus
from support.config import ROOT, TEST_API_KEY, write_test_config
from support.engine_process import engine_env, start_engine, start_worker, wait_until
from support.hl7_messages import adt

#: Records of each kind in the backlog.
PATIENTS, APPOINTMENTS, DOCUMENTS, INVOICES, UPDATES = 60, 20, 20, 10, 25
#: Carepatron's budget the engine keeps to (requests a minute, shared by the workers).
RATE_LIMIT = 600
#: Worker processes and threads in each: eight threads in all.
WORKERS, THREADS = 2, 4
#: The lease a delivery is claimed with (seconds); renewed every third of it while the worker lives.
LEASE_SECONDS = 15
#: Enough attempts that a 30% failure rate never exhausts them (the shipped 12 is for days, not minutes).
MAX_ATTEMPTS = 40
#: The patients' identifier system in the bundled ADT mapping.
SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def fault_mix(simulator, seed: int = 12) -> None:
    """Every 7th request 429 with Retry-After: 1, 30% of the rest 5xx, 50 ms on every request."""
    simulator.faults.every_nth(7, 429, headers={"Retry-After": "1"})
    simulator.faults.fail_randomly(0.3, seed=seed)
    simulator.faults.latency(50)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")


def _message(*segments: str) -> bytes:
    return ("\r".join(segments) + "\r").encode()


def _pid(mrn: str, family: str) -> str:
    return f"PID|1||{mrn}^^^HOSP^MR||{family}^Ada^^^^^L||19800214|F"


def siu(n: int, mrn: str, family: str) -> bytes:
    day = 10 + n % 18
    return _message(f"MSH|^~\\&|CLINIC|HOSP|CAREBRIDGE|CB|{_now()}||SIU^S12^SIU_S12|SIU{n:04d}|P|2.5.1",
                    f"SCH|APT{n:04d}^CLINIC|APT{n:04d}F^HOSP||||||FOLLOWUP^Follow up^HL70277|30|MIN"
                    "|||||||||||||||Booked",
                    f"TQ1|1||||||202402{day:02d}093000+1000|202402{day:02d}100000+1000",
                    _pid(mrn, family), "RGS|1", "AIP|1||1234^Smith^John^^^Dr^^^HOSP|ATND^Attender^HL70443")


def mdm(n: int, mrn: str, family: str) -> bytes:
    return _message(f"MSH|^~\\&|DICT|HOSP|CAREBRIDGE|CB|{_now()}||MDM^T02^MDM_T02|MDM{n:04d}|P|2.5",
                    f"EVN|T02|{_now()}", _pid(mrn, family), "PV1|1|O",
                    f"TXA|1|DS^Discharge summary^HL70270|TX|20240120100000+1000||20240120100500+1000|||"
                    f"1234^Smith^John^^^Dr^^^HOSP|||DOC{n:04d}^HOSP|||||AU||AV",
                    f"OBX|1|TX|DS^Discharge summary^HL70270||Summary number {n}.")


def dft(n: int, mrn: str, family: str) -> bytes:
    return _message(f"MSH|^~\\&|BILL|HOSP|CAREBRIDGE|CB|{_now()}||DFT^P03^DFT_P03|DFT{n:04d}|P|2.5",
                    f"EVN|P03|{_now()}", _pid(mrn, family),
                    f"FT1|1|TX{n:04d}||20240125140000+1000||CG|99213^Office visit^CPT|||1|150.00&AUD|150.00&AUD"
                    "||||||||1234^Smith^John^^^Dr^^^HOSP")


@dataclass
class Backlog:
    """The messages in sending order, and what Carepatron must hold at the end."""

    seed: int = 7
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    family: dict[str, str] = field(default_factory=dict)

    def build(self) -> "Backlog":
        rng = random.Random(self.seed)
        mrns = [f"{700000 + n}" for n in range(PATIENTS)]
        kinds = ["patient"] * (PATIENTS - PATIENTS // 3) + ["appointment"] * APPOINTMENTS + \
            ["document"] * DOCUMENTS + ["invoice"] * INVOICES + ["update"] * UPDATES
        rng.shuffle(kinds)
        fresh, known, counts = list(mrns), [], {"appointment": 0, "document": 0, "invoice": 0, "update": 0}
        for kind in ["patient"] * (PATIENTS // 3) + kinds:
            if kind == "patient":
                mrn = fresh.pop(0)
                known.append(mrn)
                self.family[mrn] = f"Family{mrn}"
                self.messages.append(("patient", adt("A01", f"A01{mrn}", mrn=mrn, family=self.family[mrn])))
                continue
            mrn, n = rng.choice(known), counts[kind]
            counts[kind] += 1
            if kind == "update":
                self.family[mrn] = f"Renamed{n}x{mrn}"
                self.messages.append(("update", adt("A08", f"A08{n:04d}", mrn=mrn, family=self.family[mrn])))
            else:
                build = {"appointment": siu, "document": mdm, "invoice": dft}[kind]
                self.messages.append((kind, build(n, mrn, self.family[mrn])))
        assert len(self.messages) == PATIENTS + APPOINTMENTS + DOCUMENTS + INVOICES + UPDATES
        return self

    def verify(self, simulator) -> None:
        """Everything at the simulator exactly once, in its latest version."""
        clients = _unique(simulator.records("clients"))
        assert len(clients) == PATIENTS
        for mrn, family in self.family.items():
            assert clients[f"{SYSTEM}|{mrn}"]["lastName"] == family, mrn
        assert len(_unique(simulator.records("appointments"))) == APPOINTMENTS
        assert len(_unique(simulator.records("notes"))) + len(_unique(simulator.records("files"))) == DOCUMENTS
        assert len(_unique(simulator.records("invoices"))) == INVOICES


def _unique(records: list[dict]) -> dict[str, dict]:
    by_external: dict[str, dict] = {}
    for record in records:
        assert record["externalId"] not in by_external, "a record arrived twice"
        by_external[record["externalId"]] = record
    return by_external


@dataclass
class Figures:
    """What a run measured: seconds from a record's ACK to its delivery, and the calls made."""

    ack_to_delivered: list[float]
    last_ack_to_all_delivered: float
    calls: int
    call_minutes: float
    #: Most calls in any 60 s: what the engine's rate limit bounds.
    busiest_minute: int
    retried: int

    def line(self) -> str:
        spans = sorted(self.ack_to_delivered)
        p50, p99 = spans[len(spans) // 2], spans[min(len(spans) - 1, int(len(spans) * 0.99))]
        return (f"records={len(spans)} ack_to_delivered_p50={p50:.1f}s p99={p99:.1f}s max={spans[-1]:.1f}s "
                f"last_ack_to_all_delivered={self.last_ack_to_all_delivered:.1f}s calls={self.calls} "
                f"over={self.call_minutes:.2f}min busiest_minute={self.busiest_minute} (limit {RATE_LIMIT}/min) "
                f"deliveries_retried={self.retried}")


def _deliveries(database_url: str) -> list[Delivery]:
    engine = create_engine(normalise_url(database_url))
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Delivery).order_by(Delivery.id)))
    finally:
        engine.dispose()


def run(tmp_path: Path, simulator, postgres_url: str, redis_url: str, namespace: str,
        deadline_seconds: float = 180.0) -> tuple[Backlog, Figures]:
    """Send the backlog with the fault mix on, kill a worker midway, wait for every delivery to be final."""
    config = write_test_config(tmp_path, min_backoff=2, max_backoff=600, max_attempts=MAX_ATTEMPTS)
    env = {"CAREBRIDGE_DATABASE_URL": postgres_url, "CAREBRIDGE_BROKER_URL": redis_url,
           "CAREBRIDGE_QUEUE_NAMESPACE": namespace, "CAREBRIDGE_CONFIG": str(config),
           "CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
           "CAREPATRON_RATE_LIMIT": str(RATE_LIMIT), "CAREBRIDGE_WORKER_THREADS": str(THREADS),
           "CAREBRIDGE_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS)}
    upgrade = subprocess.run([sys.executable, "-m", "carebridge.cli", "db", "upgrade"], env=engine_env(tmp_path, env),
                             cwd=ROOT, capture_output=True, text=True)
    assert upgrade.returncode == 0, upgrade.stderr
    backlog = Backlog().build()
    engine = start_engine(tmp_path, env)
    workers = [start_worker(tmp_path, engine.env, name=f"worker-{n + 1}") for n in range(WORKERS)]
    acks: list[tuple[int, float]] = []
    killed_at = None
    try:
        fault_mix(simulator)
        with MLLPClient("127.0.0.1", engine.mllp_port) as client:
            for n, (kind, message) in enumerate(backlog.messages):
                ack = hl7.parse(client.send_message(message).strip(b"\x0b\x1c\r"))
                assert str(ack.segment("MSA")[1]) == "AA", (kind, str(ack.segment("MSA")))
                acks.append((n, time.time()))
                if killed_at is None and n == len(backlog.messages) // 2:
                    simulator.wait_for_in_flight(1, timeout=30)
                    workers[0].stop(signal.SIGKILL)
                    killed_at = datetime.now(timezone.utc)
        last_ack = acks[-1][1]

        def all_final():
            found = _deliveries(postgres_url)
            return found if found and all(d.status in DeliveryStatus.FINAL for d in found) else None

        try:
            done = wait_until(all_final, timeout=deadline_seconds, interval=0.5, message="every delivery final")
        except AssertionError:
            open_ = [(d.id, d.resource_type, d.status, d.attempts, d.waiting_for, str(d.next_attempt_at),
                      d.last_error) for d in _deliveries(postgres_url) if d.status not in DeliveryStatus.FINAL]
            raise AssertionError(f"still open after {deadline_seconds}s: {open_[:8]}") from None
        all_done = time.time() - last_ack
        assert workers[0].process.returncode == -signal.SIGKILL
        calls = simulator.requests()
        times = [datetime.fromisoformat(c["time"]).timestamp() for c in calls]
        spans = [(d.updated_at.replace(tzinfo=timezone.utc) - d.created_at.replace(tzinfo=timezone.utc))
                 .total_seconds() for d in done if d.status == DeliveryStatus.DELIVERED]
        times.sort()
        busiest = max(sum(1 for t in times[n:] if t < start + 60) for n, start in enumerate(times))
        figures = Figures(spans, all_done, len(calls), (times[-1] - times[0]) / 60, busiest,
                          sum(1 for d in done if d.attempts > 1))
        assert not [d for d in done if d.status == DeliveryStatus.FAILED], [
            (d.id, d.resource_type, d.last_error) for d in done if d.status == DeliveryStatus.FAILED][:5]
        return backlog, figures
    finally:
        for worker in workers:
            worker.stop()
        engine.stop()
