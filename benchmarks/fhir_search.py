"""Search latency of the FHIR API by identifier and by name at N stored Patients.

Prints figures, never passes or fails. Runs the real app (Flask test client, no socket)
on SQLite by default or on any database URL::

    python benchmarks/fhir_search.py                       # 2,000 patients on SQLite
    python benchmarks/fhir_search.py --patients 100000 --database-url postgresql://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from carebridge.app import create_app  # noqa: E402
from carebridge.runtime import build_runtime  # noqa: E402
from engine.config.environment import Settings  # noqa: E402
from engine.db.migrations import upgrade  # noqa: E402

#: Patients written per transaction while loading.
LOAD_BATCH = 500
SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
FAMILIES = ["Smith", "Jones", "Nguyen", "Garcia", "Müller", "Okafor", "Tanaka", "Rossi", "Kowalski", "Brown"]


def _patient(n: int) -> dict:
    family = f"{FAMILIES[n % len(FAMILIES)]}{n:07d}"
    return {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": f"MRN{n:08d}"}],
            "name": [{"family": family, "given": [random.choice(["Ada", "Grace", "Alan", "Edsger"])]}],
            "birthDate": f"{1940 + n % 70}-{1 + n % 12:02d}-{1 + n % 28:02d}", "gender": random.choice(["male", "female"])}


def load(runtime, count: int) -> float:
    started = time.perf_counter()
    for first in range(0, count, LOAD_BATCH):
        with runtime.fhir_writer.unit() as unit:
            for n in range(first, min(first + LOAD_BATCH, count)):
                unit.create(_patient(n))
    return time.perf_counter() - started


def latency(client, queries: list[str], headers: dict[str, str]) -> tuple[float, float]:
    timings = []
    for query in queries:
        started = time.perf_counter()
        response = client.get(f"/fhir/Patient?{query}", headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_json()
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000, help="patients to store (default 2000)")
    parser.add_argument("--queries", type=int, default=200, help="searches per kind (default 200)")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--no-load", dest="load", action="store_false",
                        help="search a store an earlier run loaded with --patients N (same URL)")
    options = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="carebridge-bench-"))
    url = options.database_url or f"sqlite:///{workdir / 'bench.db'}"
    runtime = build_runtime(Settings.from_env({"CAREBRIDGE_DATABASE_URL": url, "CAREBRIDGE_BROKER_URL": "memory://",
                                               "CAREBRIDGE_VAR_DIR": str(workdir)}))
    upgrade(runtime.database)
    if options.load:
        seconds = load(runtime, options.patients)
        print(f"database {url.split('://')[0]}, {options.patients} patients loaded in {seconds:.1f} s "
              f"({options.patients / seconds:.0f}/s)")
    else:
        print(f"database {url.split('://')[0]}, searching the {options.patients} patients stored before")
    client = create_app(runtime).test_client()
    # As an EHR calls it: a client's token, so each search pays for its scope check and audit record.
    registered = runtime.access.clients.add("benchmark", "system/Patient.rs")
    token = client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": registered["client_id"],
                                             "client_secret": registered["client_secret"]}).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    picks = [random.randrange(options.patients) for _ in range(options.queries)]
    kinds = {
        "identifier system|value": [f"identifier={SYSTEM}|MRN{n:08d}" for n in picks],
        "family (one match)": [f"family={FAMILIES[n % len(FAMILIES)]}{n:07d}" for n in picks],
        "name prefix (page of 20)": [f"name={random.choice(FAMILIES)[:3].lower()}" for _ in picks],
        "birthdate + gender": ["birthdate=ge1980-01-01&gender=female&_count=20" for _ in picks],
    }
    for kind, queries in kinds.items():
        median, p95 = latency(client, queries, headers)
        print(f"{kind:28s} median {median:7.2f} ms   p95 {p95:7.2f} ms   ({len(queries)} searches)")
    runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
