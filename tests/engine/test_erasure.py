"""Erasing a patient removes them, their records and the messages about them everywhere, leaves every
other patient as they were, and leaves an audit record that names no one."""

from pathlib import Path

import pytest
from sqlalchemy import make_url, select

from carebridge.app import create_app
from engine.access.audit import Agent
from engine.db.models import AuditRecord, Message, ResourceRecord, SearchString, SearchToken
from engine.operations.erasure import erase_patient, plan_erasure
from support.hl7_messages import adt

FAMILY, MRN = "Quillfeather", "934712"
OTHER_FAMILY, OTHER_MRN = "Brightwater", "934713"


def oru(control_id: str, mrn: str, family: str) -> bytes:
    """A lab result for the patient with ``mrn``."""
    segments = [
        f"MSH|^~\\&|LAB|HOSP|CAREBRIDGE|CB|20240122120000+1000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        f"PID|1||{mrn}^^^HOSP^MR||{family}^Mary",
        "OBR|1|ORD1^CLINIC|LAB55^HOSP|24331-1^Lipid panel^LN|||20240122080000+1000|||||||||||||||"
        "20240122110000+1000|||F",
        "OBX|1|NM|2093-3^Cholesterol^LN||5.2|mmol/L^mmol/L^UCUM|<5.5|N|||F",
    ]
    return ("\r".join(segments) + "\r").encode()


def _patient_id(runtime, mrn: str) -> str:
    with runtime.database.read() as session:
        [found] = runtime.repository.ids_with_token(session, "Patient", "identifier", mrn)
    return found


@pytest.fixture
def two_patients(make_runtime):
    """One patient admitted, updated and with a lab result; another admitted."""
    runtime = make_runtime(mapper="bundled", workers=0)
    for raw in (adt("A01", "ERASE-1", mrn=MRN, family=FAMILY), adt("A08", "ERASE-2", mrn=MRN, family=FAMILY,
                                                                  city="Shelbyville"),
                oru("ERASE-3", MRN, FAMILY), adt("A01", "KEEP-1", mrn=OTHER_MRN, family=OTHER_FAMILY)):
        assert runtime.pipeline.receive_hl7(raw, "mllp").status == "accepted"
    return runtime


def _sqlite_bytes(runtime) -> bytes:
    path = Path(make_url(runtime.database.url).database)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_an_erased_patient_is_gone_from_the_api_history_messages_and_index(two_patients):
    runtime = two_patients
    patient, other = _patient_id(runtime, MRN), _patient_id(runtime, OTHER_MRN)
    client = create_app(runtime).test_client()
    assert client.get(f"/fhir/Patient/{patient}/_history/2").status_code == 200
    observations = client.get(f"/fhir/Observation?subject=Patient/{patient}").get_json()["entry"]

    answer = client.post(f"/admin/api/patients/{patient}/erase")

    assert answer.status_code == 200 and answer.get_json()["messages"] == 3
    assert FAMILY.encode() not in answer.data
    for path in (f"Patient/{patient}", f"Patient/{patient}/_history/1", f"Patient/{patient}/_history/2",
                 *(f"Observation/{e['resource']['id']}" for e in observations)):
        assert client.get(f"/fhir/{path}").status_code == 404, path
    assert client.get(f"/fhir/Patient?identifier={MRN}").get_json().get("total") == 0
    with runtime.database.read() as session:
        raws = session.scalars(select(Message.raw)).all()
        assert len(raws) == 1 and FAMILY.encode() not in raws[0] and MRN.encode() not in raws[0]
        assert not session.scalars(select(SearchToken).where(SearchToken.code == MRN)).all()
        assert not session.scalars(select(SearchString).where(SearchString.exact == FAMILY)).all()
        assert session.scalars(select(ResourceRecord.resource_type).where(
            ResourceRecord.content.contains(FAMILY))).all() == []
    kept = client.get(f"/fhir/Patient/{other}").get_json()
    assert kept["name"][0]["family"] == OTHER_FAMILY


def test_the_database_file_no_longer_holds_the_name_or_the_mrn(two_patients):
    runtime = two_patients
    if not runtime.database.is_sqlite:
        pytest.skip("PostgreSQL keeps deleted rows on disk until VACUUM reuses them (docs/operations.md)")
    assert FAMILY.encode() in _sqlite_bytes(runtime)
    erase_patient(runtime.database, _patient_id(runtime, MRN), runtime.access.audit, Agent("user", "rita"), "cli")
    held = _sqlite_bytes(runtime)
    assert FAMILY.encode() not in held and f"{MRN}^^^HOSP".encode() not in held
    assert OTHER_FAMILY.encode() in held


def test_the_erasure_is_audited_without_naming_the_person(two_patients):
    runtime = two_patients
    patient = _patient_id(runtime, MRN)
    erase_patient(runtime.database, patient, runtime.access.audit, Agent("user", "rita"), "admin")
    with runtime.database.read() as session:
        [record] = session.scalars(select(AuditRecord).where(AuditRecord.subtype == "erase")).all()
    assert (record.agent, record.entity_type, record.entity_id, record.outcome) == ("rita", "Patient", patient, "0")
    written = " ".join(str(getattr(record, c.name)) for c in AuditRecord.__table__.columns)
    assert FAMILY not in written and MRN not in written


def test_erase_command_asks_for_yes_then_erases(two_patients, monkeypatch, capsys):
    from carebridge.cli.main import main

    runtime = two_patients
    patient = _patient_id(runtime, MRN)
    for name, value in runtime.settings.environ.items():
        monkeypatch.setenv(name, value)

    assert main(["patients", "erase", patient]) == 1
    out = capsys.readouterr()
    assert "would erase" in out.out and "1 Observation" in out.out and "--yes" in out.err
    assert plan_erasure(runtime.database, patient) is not None
    assert main(["patients", "erase", patient, "--yes"]) == 0
    assert f"erased Patient/{patient}" in capsys.readouterr().out
    assert plan_erasure(runtime.database, patient) is None
    assert main(["patients", "erase", patient, "--yes"]) == 1


def test_erasing_an_unknown_patient_is_404(two_patients):
    assert create_app(two_patients).test_client().post("/admin/api/patients/nobody/erase").status_code == 404


def test_only_an_admin_may_erase_and_the_erasure_names_them(make_runtime):
    from support.access import bearer

    runtime = make_runtime(mapper="bundled", workers=0, CAREBRIDGE_AUTH="on",
                           CAREBRIDGE_TOKEN_SIGNING_KEY="test-signing-key-of-32-bytes-or-more")
    runtime.pipeline.receive_hl7(adt("A01", "ROLE-1", mrn=MRN, family=FAMILY), "mllp")
    patient = _patient_id(runtime, MRN)
    tokens = {}
    for role in ("operator", "admin"):
        runtime.access.users.add(f"{role}-1", role, "a long enough password 1")
        tokens[role] = bearer(runtime.access.users.issue_token(f"{role}-1"))
    client = create_app(runtime).test_client()

    assert client.post(f"/admin/api/patients/{patient}/erase", headers=tokens["operator"]).status_code == 403
    assert plan_erasure(runtime.database, patient) is not None
    assert client.post(f"/admin/api/patients/{patient}/erase", headers=tokens["admin"]).status_code == 200
    assert runtime.access.audit.find(entity_id=patient, agent="admin-1")[0].subtype == "erase"
