"""Access end to end, with `carebridge serve` running with authentication on: API clients registered
with `carebridge clients add` get tokens at `POST /auth/token` (client_secret_basic, client_secret_post,
private_key_jwt with ES384 and RS384, whose assertions serve once, unexpired, signed by a registered key
and addressed to this endpoint whatever X-Forwarded-* headers claim) that fhirpy and fhirclient use to
read and write; SMART scopes refuse what they do not grant (searches, `_revinclude`, a transaction as a
whole, v1 scopes) with 403 naming the scope; expired, tampered and foreign tokens get 401 with a Bearer
challenge; `POST /hl7` needs `hl7.send`; every interaction lands on a PHI-free audit trail read as FHIR
AuditEvents; serve refuses CAREBRIDGE_AUTH=off off loopback and prints a first admin password once; the
SMART configuration and CapabilityStatement say how to get a token.

The client-credentials and scope tests run on the embedded default and on PostgreSQL + Redis with a
separate worker; the rest on the embedded default only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fhirclient import client as smart_client
from fhirclient.models.patient import Patient as SmartPatient
from fhirclient.server import FHIRUnauthorizedException
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import AuthorizationError
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from engine.db.database import normalise_url
from engine.db.models import Message
from support import services
from support.config import ROOT
from support.engine_process import (START_TIMEOUT_SECONDS, EngineProcess, carebridge, engine_env, start_engine,
                                    start_worker, wait_until)
from support.hl7_messages import adt
from support.pki import LOOPBACK_NAMES, TestCA
from support.ports import free_port

pytestmark = pytest.mark.e2e

#: The engine signs its access tokens with this, so tests can forge tokens the way an attacker could not.
SIGNING_KEY = "access-e2e-signing-key-" + "k" * 32
ADMIN_PASSWORD = "access-e2e-admin-password"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FHIR_JSON = "application/fhir+json"

# Fictional patients with values found nowhere else, so the audit trail can be searched for them.
FAMILY = "Quillfeatherstonehaugh"
BIRTH_DATE = "1931-07-23"
ID_SYSTEM = "urn:carebridge:test:access"
ID_PREFIX = "ACC7342981"
PHI = (FAMILY, BIRTH_DATE, BIRTH_DATE.replace("-", ""), ID_PREFIX)

#: The secret clients every engine of this module has: name -> scopes.
CLIENTS = {
    "full": "system/*.cruds",
    "reader": "system/*.rs",
    "patients": "system/Patient.rs",
    "patients-v1": "system/Patient.read",
    "patient-writer": "system/Patient.cruds",
    "hl7-sender": "hl7.send",
    "auditor": "system/AuditEvent.rs",
    "audited": "system/Patient.cruds",
}


def register(env: dict[str, str], wanted: dict[str, tuple[str, Path | None]]) -> dict[str, dict]:
    """Register clients with `carebridge clients add` (in parallel), as an admin would; name -> its JSON answer."""
    running = {}
    for name, (scopes, jwks) in wanted.items():
        args = [sys.executable, "-m", "carebridge.cli", "clients", "add", name, "--scope", scopes]
        running[name] = subprocess.Popen(args + (["--jwks", str(jwks)] if jwks else []), env=env, cwd=ROOT,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answers = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        answers[name] = json.loads(out)
    return answers


@dataclass
class Stack:
    """An engine with authentication on (and, scaled, its worker) and the clients registered on it."""

    mode: str
    engine: EngineProcess
    database_url: str
    worker: EngineProcess | None = None
    clients: dict[str, dict] = field(default_factory=dict)

    @property
    def fhir(self) -> str:
        return f"{self.engine.base_url}/fhir"

    @property
    def token_url(self) -> str:
        return f"{self.engine.base_url}/auth/token"

    def client_id(self, name: str) -> str:
        return self.clients[name]["client_id"]

    def token(self, name: str, *, method: str = "basic", scope: str | None = None) -> str:
        client = self.clients[name]
        form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        if method == "basic":
            answer = requests.post(self.token_url, data=form, auth=(client["client_id"], client["client_secret"]),
                                   timeout=10)
        else:
            form.update(client_id=client["client_id"], client_secret=client["client_secret"])
            answer = requests.post(self.token_url, data=form, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["token_type"].lower() == "bearer" and body["expires_in"] > 0
        assert answer.headers["Cache-Control"] == "no-store"
        return body["access_token"]

    def stop(self) -> None:
        if self.worker:
            assert self.worker.stop() == 0, self.worker.log()
        assert self.engine.stop() == 0, self.engine.log()


def _start_stack(mode: str, request, tmp_path: Path) -> Stack:
    env = {"CAREBRIDGE_AUTH": "on", "CAREBRIDGE_TOKEN_SIGNING_KEY": SIGNING_KEY,
           "CAREBRIDGE_ADMIN_PASSWORD": ADMIN_PASSWORD}
    if mode == "embedded":
        database_url = f"sqlite:///{tmp_path / 'carebridge.db'}"
        env.update(CAREBRIDGE_DATABASE_URL=database_url, CAREBRIDGE_BROKER_URL="memory://")
    else:
        services.require("Redis", services.redis_up())
        database_url = services.emptied_postgres(request.getfixturevalue("postgres_server_url"))
        env.update(CAREBRIDGE_DATABASE_URL=database_url, CAREBRIDGE_BROKER_URL=services.REDIS_URL,
                   CAREBRIDGE_QUEUE_NAMESPACE=f"carebridge-test-{uuid.uuid4().hex[:8]}")
        upgrade = subprocess.run([sys.executable, "-m", "carebridge.cli", "db", "upgrade"],
                                 env=engine_env(tmp_path, env), cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert upgrade.returncode == 0, upgrade.stderr
    engine = start_engine(tmp_path, env, "--no-mllp")
    stack = Stack(mode, engine, database_url)
    try:
        if mode == "scaled":
            stack.worker = start_worker(tmp_path, engine.env)
        stack.clients = register(engine.env, {name: (scopes, None) for name, scopes in CLIENTS.items()})
    except BaseException:
        stack.stop()
        raise
    return stack


@pytest.fixture(scope="module")
def stacks(request, tmp_path_factory):
    """Starts each mode's engine the first time a test asks for it; all stop at the end of the module."""
    started: dict[str, Stack] = {}

    def get(mode: str) -> Stack:
        if mode not in started:
            started[mode] = _start_stack(mode, request, tmp_path_factory.mktemp(f"access-{mode}"))
        return started[mode]

    yield get
    for stack in started.values():
        stack.stop()


@pytest.fixture(params=["embedded", pytest.param("scaled", marks=[pytest.mark.postgres, pytest.mark.redis])])
def stack(request, stacks) -> Stack:
    return stacks(request.param)


@pytest.fixture
def embedded(stacks) -> Stack:
    return stacks("embedded")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}


def new_identifier() -> str:
    return f"{ID_PREFIX}{uuid.uuid4().hex[:8]}"


def patient_json(identifier: str) -> dict:
    return {"resourceType": "Patient", "identifier": [{"system": ID_SYSTEM, "value": identifier}],
            "name": [{"family": FAMILY, "given": ["Ada"]}], "birthDate": BIRTH_DATE}


def observation_json(subject: str) -> dict:
    return {"resourceType": "Observation", "status": "final", "subject": {"reference": subject},
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
            "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}


def create(stack: Stack, token: str, resource: dict) -> dict:
    answer = requests.post(f"{stack.fhir}/{resource['resourceType']}", json=resource, headers=bearer(token),
                           timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def patients_with(stack: Stack, token: str, identifier: str) -> list[dict]:
    answer = requests.get(f"{stack.fhir}/Patient", params={"identifier": f"{ID_SYSTEM}|{identifier}"},
                          headers=bearer(token), timeout=10)
    assert answer.status_code == 200, answer.text
    return [entry["resource"] for entry in answer.json().get("entry") or []]


def assert_forbidden(answer: requests.Response, scope: str) -> None:
    """A 403 OperationOutcome naming the scope the token lacks."""
    assert answer.status_code == 403, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert scope in outcome["issue"][0]["diagnostics"], outcome


def assert_unauthorised(answer: requests.Response) -> None:
    """A 401 with a Bearer challenge and an OperationOutcome."""
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["severity"] == "error"


# 1. Real FHIR clients with client-credentials tokens.

def test_fhirpy_writes_and_reads_with_a_token_from_client_secret_basic(stack):
    token = stack.token("full", method="basic")
    claims = jwt.decode(token, SIGNING_KEY, algorithms=["HS256"], audience="carebridge", issuer="carebridge")
    assert claims["sub"] == stack.client_id("full") and claims["scope"] == "system/*.cruds"
    assert {"exp", "iat", "nbf", "jti"} <= claims.keys() and claims["exp"] > time.time()
    fhir = SyncFHIRClient(stack.fhir, authorization=f"Bearer {token}")
    identifier = new_identifier()
    patient = fhir.resource("Patient", **{k: v for k, v in patient_json(identifier).items() if k != "resourceType"})
    patient.save()
    assert patient.id
    read = fhir.reference("Patient", patient.id).to_resource()
    assert read.name[0].family == FAMILY and read.birthDate == BIRTH_DATE
    read["gender"] = "female"
    read.save()
    assert fhir.reference("Patient", patient.id).to_resource().meta.versionId == "2"
    found = fhir.resources("Patient").search(identifier=f"{ID_SYSTEM}|{identifier}").fetch_all()
    assert [p.id for p in found] == [patient.id]
    with pytest.raises(AuthorizationError):
        SyncFHIRClient(stack.fhir).resources("Patient").search(identifier=f"{ID_SYSTEM}|{identifier}").fetch()


def test_fhirclient_writes_and_reads_with_a_token_from_client_secret_post(stack):
    token = stack.token("full", method="post")
    smart = smart_client.FHIRClient(settings={"app_id": "carebridge-access-tests", "api_base": stack.fhir})
    # fhirclient 4 sends its requests through one requests.Session: a header set there goes on each.
    smart.server.session.headers["Authorization"] = f"Bearer {token}"
    identifier = new_identifier()
    created = SmartPatient(patient_json(identifier)).create(smart.server)
    read = SmartPatient.read(created["id"], smart.server)
    assert read.name[0].family == FAMILY and read.birthDate.isostring == BIRTH_DATE
    read.gender = "female"
    assert read.update(smart.server)["meta"]["versionId"] == "2"
    found = list(SmartPatient.where({"identifier": f"{ID_SYSTEM}|{identifier}"}).perform_resources_iter(smart.server))
    assert [p.id for p in found] == [created["id"]] and found[0].gender == "female"
    anonymous = smart_client.FHIRClient(settings={"app_id": "carebridge-access-tests", "api_base": stack.fhir})
    with pytest.raises(FHIRUnauthorizedException):
        SmartPatient.read(created["id"], anonymous.server)


def test_a_token_request_with_a_wrong_secret_or_a_scope_beyond_the_clients_is_refused(stack):
    client = stack.clients["patients"]
    wrong = requests.post(stack.token_url, data={"grant_type": "client_credentials"},
                          auth=(client["client_id"], client["client_secret"] + "x"), timeout=10)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    beyond = requests.post(stack.token_url, data={"grant_type": "client_credentials", "scope": "system/Patient.cruds"},
                           auth=(client["client_id"], client["client_secret"]), timeout=10)
    assert beyond.status_code == 400 and beyond.json()["error"] == "invalid_scope"


# 2. private_key_jwt (SMART Backend Services).

@pytest.fixture(scope="module")
def keyed_client(stacks, tmp_path_factory):
    """A client registered with a JWKS of an ES384 key and an RS384 key; its private keys by algorithm."""
    embedded = stacks("embedded")
    keys = {"ES384": ec.generate_private_key(ec.SECP384R1()),
            "RS384": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    jwks = {"keys": [
        {**ECAlgorithm.to_jwk(keys["ES384"].public_key(), as_dict=True), "kid": "es-1", "alg": "ES384", "use": "sig"},
        {**RSAAlgorithm.to_jwk(keys["RS384"].public_key(), as_dict=True), "kid": "rs-1", "alg": "RS384", "use": "sig"},
    ]}
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps(jwks))
    answer = register(embedded.engine.env, {"keyed": ("system/Patient.rs", path)})["keyed"]
    assert "client_secret" not in answer and answer["token_endpoint_auth_method"] == "private_key_jwt"
    return {"client_id": answer["client_id"], "keys": keys, "kids": {"ES384": "es-1", "RS384": "rs-1"}}


def _assertion(key, alg: str, kid: str, client_id: str, aud: str, *, jti: str | None = None,
               expires_in: int = 120) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": jti or uuid.uuid4().hex, "iat": now,
              "exp": now + expires_in}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def _token_by_assertion(stack: Stack, assertion: str, token_url: str | None = None, **options) -> requests.Response:
    return requests.post(token_url or stack.token_url, timeout=10, **options,
                         data={"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER,
                               "client_assertion": assertion, "scope": "system/Patient.rs"})


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_private_key_jwt_gets_a_token_that_reads_patients(embedded, keyed_client, alg):
    patient = create(embedded, embedded.token("full"), patient_json(new_identifier()))
    client_id = keyed_client["client_id"]
    answer = _token_by_assertion(embedded, _assertion(keyed_client["keys"][alg], alg, keyed_client["kids"][alg],
                                                      client_id, embedded.token_url))
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert jwt.decode(token, SIGNING_KEY, algorithms=["HS256"], audience="carebridge")["sub"] == client_id
    read = requests.get(f"{embedded.fhir}/Patient/{patient['id']}", headers=bearer(token), timeout=10)
    assert read.status_code == 200 and read.json()["name"][0]["family"] == FAMILY
    assert_forbidden(requests.post(f"{embedded.fhir}/Patient", json=patient_json(new_identifier()),
                                   headers=bearer(token), timeout=10), "system/Patient.c")


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_a_replayed_expired_foreign_signed_or_misaddressed_assertion_gets_401(embedded, keyed_client, alg):
    client_id, kid, key = keyed_client["client_id"], keyed_client["kids"][alg], keyed_client["keys"][alg]
    once = _assertion(key, alg, kid, client_id, embedded.token_url)
    assert _token_by_assertion(embedded, once).status_code == 200
    stranger = (ec.generate_private_key(ec.SECP384R1()) if alg == "ES384"
                else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    refused = {
        "replayed": once,
        "expired": _assertion(key, alg, kid, client_id, embedded.token_url, expires_in=-120),
        "signed by another key": _assertion(stranger, alg, kid, client_id, embedded.token_url),
        "for another audience": _assertion(key, alg, kid, client_id, f"{embedded.fhir}/auth/token"),
        "more than five minutes ahead": _assertion(key, alg, kid, client_id, embedded.token_url, expires_in=900),
    }
    for why, assertion in refused.items():
        answer = _token_by_assertion(embedded, assertion)
        assert answer.status_code == 401, f"{why}: {answer.text}"
        assert answer.json()["error"] == "invalid_client", why
        assert "access_token" not in answer.json()


def _start_https_engine(tmp_path: Path, extra_env: dict[str, str], ca: Path) -> EngineProcess:
    """`carebridge serve --no-mllp` on HTTPS (cheroot, which passes X-Forwarded-* headers through), once ready."""
    port = free_port()
    env = engine_env(tmp_path, {"CAREBRIDGE_HTTP_PORT": str(port), **extra_env})
    engine = EngineProcess(carebridge("serve", "--no-mllp", env=env, log_path=tmp_path / "engine.log"),
                           tmp_path / "engine.log", port, None, env)

    def ready() -> bool:
        if engine.process.poll() is not None:
            raise RuntimeError(f"carebridge serve exited with {engine.process.returncode}:\n{engine.log()}")
        try:
            answer = requests.get(f"https://127.0.0.1:{port}/readyz", verify=str(ca), timeout=1)
        except requests.RequestException:
            return False
        return answer.status_code == 200 and "Carebridge is ready" in engine.log()

    try:
        wait_until(ready, timeout=START_TIMEOUT_SECONDS, interval=0.2, message="the HTTPS engine")
    except BaseException:
        engine.kill()
        raise
    return engine


def test_an_assertion_for_another_server_is_refused_whatever_x_forwarded_headers_claim(tmp_path):
    """A server the client also signs assertions for must not replay one here by claiming, in
    X-Forwarded-* headers, to be where the assertion was addressed."""
    ca = TestCA(tmp_path, "ca")
    server = ca.issue("server", LOOPBACK_NAMES)
    engine = _start_https_engine(tmp_path, {"CAREBRIDGE_AUTH": "on", "CAREBRIDGE_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                            "CAREBRIDGE_HTTP_TLS_CERT": str(server.cert),
                                            "CAREBRIDGE_HTTP_TLS_KEY": str(server.key)}, ca.cert)
    try:
        key = ec.generate_private_key(ec.SECP384R1())
        jwks = tmp_path / "jwks.json"
        jwks.write_text(json.dumps({"keys": [{**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "es-1",
                                              "alg": "ES384", "use": "sig"}]}))
        client_id = register(engine.env, {"service": ("system/Patient.rs", jwks)})["service"]["client_id"]
        token_url = f"https://127.0.0.1:{engine.http_port}/auth/token"
        stack = Stack("https", engine, "")
        elsewhere = "https://other-fhir.example/gateway/auth/token"
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "other-fhir.example",
                     "X-Forwarded-Prefix": "/gateway"}
        replayed = _token_by_assertion(stack, _assertion(key, "ES384", "es-1", client_id, elsewhere), token_url,
                                       headers=forwarded, verify=str(ca.cert))
        assert replayed.status_code == 401, replayed.text
        assert replayed.json()["error"] == "invalid_client"
        direct = _token_by_assertion(stack, _assertion(key, "ES384", "es-1", client_id, token_url), token_url,
                                     verify=str(ca.cert))
        assert direct.status_code == 200, direct.text
    finally:
        assert engine.stop() == 0, engine.log()


# 3. The scope matrix, and tokens that are not good.

def test_a_read_only_token_reads_but_cannot_create(stack):
    token = stack.token("reader")
    assert requests.get(f"{stack.fhir}/Patient", params={"_count": "1"}, headers=bearer(token),
                        timeout=10).status_code == 200
    refused = requests.post(f"{stack.fhir}/Patient", json=patient_json(new_identifier()), headers=bearer(token),
                            timeout=10)
    assert_forbidden(refused, "system/Patient.c")


def test_a_patient_only_token_cannot_reach_observations_by_search_or_revinclude(stack):
    patient = create(stack, stack.token("full"), patient_json(new_identifier()))
    create(stack, stack.token("full"), observation_json(f"Patient/{patient['id']}"))
    token = stack.token("patients")
    assert requests.get(f"{stack.fhir}/Patient/{patient['id']}", headers=bearer(token), timeout=10).status_code == 200
    assert_forbidden(requests.get(f"{stack.fhir}/Observation", params={"subject": f"Patient/{patient['id']}"},
                                  headers=bearer(token), timeout=10), "system/Observation.s")
    revinclude = requests.get(f"{stack.fhir}/Patient", params={"_id": patient["id"],
                                                              "_revinclude": "Observation:subject"},
                              headers=bearer(token), timeout=10)
    assert_forbidden(revinclude, "system/Observation.s")
    assert "8867-4" not in revinclude.text


def test_a_transaction_touching_a_type_outside_the_scopes_is_refused_whole_and_stores_nothing(stack):
    identifier = new_identifier()
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:2f1e7f0a-0d1c-4b5e-9d7a-3c1f1e2a4b5c", "resource": patient_json(identifier),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": observation_json("urn:uuid:2f1e7f0a-0d1c-4b5e-9d7a-3c1f1e2a4b5c"),
         "request": {"method": "POST", "url": "Observation"}},
    ]}
    refused = requests.post(stack.fhir, json=bundle, headers=bearer(stack.token("patient-writer")), timeout=10)
    assert_forbidden(refused, "system/Observation.c")
    assert patients_with(stack, stack.token("full"), identifier) == []


def test_a_v1_read_scope_reads_but_cannot_write(stack):
    patient = create(stack, stack.token("full"), patient_json(new_identifier()))
    token = stack.token("patients-v1")
    assert jwt.decode(token, SIGNING_KEY, algorithms=["HS256"], audience="carebridge")["scope"] == "system/Patient.read"
    read = requests.get(f"{stack.fhir}/Patient/{patient['id']}", headers=bearer(token), timeout=10)
    assert read.status_code == 200 and read.json()["id"] == patient["id"]
    assert_forbidden(requests.post(f"{stack.fhir}/Patient", json=patient_json(new_identifier()), headers=bearer(token),
                                   timeout=10), "system/Patient.c")
    assert_forbidden(requests.put(f"{stack.fhir}/Patient/{patient['id']}", json={**patient, "gender": "other"},
                                  headers=bearer(token), timeout=10), "system/Patient.u")
    assert_forbidden(requests.delete(f"{stack.fhir}/Patient/{patient['id']}", headers=bearer(token), timeout=10),
                     "system/Patient.d")


def _forged(client_id: str, **changes) -> str:
    """A token signed with the engine's key, as the engine would issue it unless ``changes`` say otherwise."""
    now = int(time.time())
    claims = {"iss": "carebridge", "sub": client_id, "aud": "carebridge", "iat": now, "nbf": now, "exp": now + 300,
              "jti": uuid.uuid4().hex, "scope": "system/*.cruds", **changes}
    return jwt.encode(claims, SIGNING_KEY, algorithm="HS256")


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    middle = len(payload) // 2
    swapped = "A" if payload[middle] != "A" else "B"
    return ".".join([header, payload[:middle] + swapped + payload[middle + 1:], signature])


def test_expired_tampered_foreign_and_missing_tokens_get_401_with_a_bearer_challenge(stack):
    client_id, past = stack.client_id("full"), int(time.time()) - 900
    # The control: signed with the engine's key for a real client, a forged token is as good as an issued one.
    assert requests.get(f"{stack.fhir}/Patient", params={"_count": "1"}, headers=bearer(_forged(client_id)),
                        timeout=10).status_code == 200
    refused = [(_forged(client_id, iat=past, nbf=past, exp=past + 300), "expired"),
               (_tampered(stack.token("full")), "not valid"),
               (_forged(client_id, aud="someone-else"), "another audience"),
               ("not-a-jwt", "not valid")]
    for token, reason in refused:
        answer = requests.get(f"{stack.fhir}/Patient", headers=bearer(token), timeout=10)
        assert_unauthorised(answer)
        assert reason in answer.json()["issue"][0]["diagnostics"], answer.text
    assert_unauthorised(requests.get(f"{stack.fhir}/Patient", headers={"Accept": FHIR_JSON}, timeout=10))


# 4. HL7 v2 over HTTP.

def _stored(database_url: str, control_id: str) -> Message | None:
    database = create_engine(normalise_url(database_url))
    try:
        with Session(database) as session:
            return session.scalars(select(Message).where(Message.control_id == control_id)).first()
    finally:
        database.dispose()


def test_post_hl7_needs_a_token_with_hl7_send(embedded):
    def send(control_id: str, headers: dict[str, str]) -> requests.Response:
        message = adt("A01", control_id, mrn="7342981", family=FAMILY, birth_date=BIRTH_DATE.replace("-", ""))
        return requests.post(f"{embedded.engine.base_url}/hl7", data=message,
                             headers={"Content-Type": "x-application/hl7-v2+er7", **headers}, timeout=30)

    anonymous = send("ACCESS-HL7-ANON", {})
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    lacking = send("ACCESS-HL7-NOSCOPE", {"Authorization": f"Bearer {embedded.token('reader')}"})
    assert lacking.status_code == 403 and "hl7.send" in lacking.text
    assert b"MSA" not in anonymous.content + lacking.content
    assert _stored(embedded.database_url, "ACCESS-HL7-ANON") is None
    assert _stored(embedded.database_url, "ACCESS-HL7-NOSCOPE") is None
    accepted = send("ACCESS-HL7-OK", {"Authorization": f"Bearer {embedded.token('hl7-sender')}"})
    assert accepted.status_code == 200, accepted.text
    assert b"MSA|AA|ACCESS-HL7-OK" in accepted.content
    assert _stored(embedded.database_url, "ACCESS-HL7-OK").status == "mapped"


# 5. The audit trail.

def _audit_events(stack: Stack, token: str, **params) -> list[dict]:
    """Every AuditEvent the search finds, following the next links."""
    events, url, query = [], f"{stack.fhir}/AuditEvent", {"_count": "200", **params}
    while url:
        answer = requests.get(url, params=query, headers=bearer(token), timeout=10)
        assert answer.status_code == 200, answer.text
        bundle = answer.json()
        events += [entry["resource"] for entry in bundle.get("entry") or []]
        url, query = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None), None
    return events


def test_the_audit_trail_lists_reads_writes_and_refusals_by_client_without_patient_data(embedded):
    token = embedded.token("audited")
    client_id = embedded.client_id("audited")
    identifier = new_identifier()
    patient = create(embedded, token, patient_json(identifier))
    assert requests.get(f"{embedded.fhir}/Patient/{patient['id']}", headers=bearer(token), timeout=10).ok
    search = {"identifier": f"{ID_SYSTEM}|{identifier}", "family": FAMILY, "birthdate": BIRTH_DATE}
    assert requests.get(f"{embedded.fhir}/Patient", params=search, headers=bearer(token), timeout=10).ok
    assert requests.get(f"{embedded.fhir}/Observation", headers=bearer(token), timeout=10).status_code == 403
    assert requests.post(f"{embedded.fhir}/Observation", json=observation_json(f"Patient/{patient['id']}"),
                         headers=bearer(token), timeout=10).status_code == 403
    assert requests.post(f"{embedded.engine.base_url}/hl7", data=adt("A01", "ACCESS-AUDIT"),
                         headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 403
    assert requests.get(f"{embedded.fhir}/Patient", params=search, headers={"Accept": FHIR_JSON},
                        timeout=10).status_code == 401

    auditor = embedded.token("auditor")
    events = _audit_events(embedded, auditor, agent=client_id)
    assert events and all(e["resourceType"] == "AuditEvent" for e in events)
    assert {e["agent"][0]["who"]["identifier"]["value"] for e in events} == {client_id}

    def what(event: dict) -> str | None:
        entity = (event.get("entity") or [{}])[0].get("what") or {}
        return entity.get("reference") or entity.get("display")

    seen = {(e["subtype"][0]["code"], e["outcome"], what(e)) for e in events}
    assert {("token", "0", None), ("create", "0", "Patient"), ("read", "0", f"Patient/{patient['id']}"),
            ("search-type", "0", "Patient"), ("search-type", "4", "Observation"), ("create", "4", "Observation"),
            ("send", "4", None)} <= seen, seen
    searched = [e for e in events if e["subtype"][0]["code"] == "search-type" and what(e) == "Patient"]
    assert searched[0]["entity"][0]["detail"][0]["valueString"] == "birthdate,family,identifier"
    anonymous = _audit_events(embedded, auditor, agent="anonymous", outcome="4")
    assert any(e["subtype"][0]["code"] == "search-type" and what(e) == "Patient" for e in anonymous)

    everything = json.dumps(_audit_events(embedded, auditor))
    for value in PHI:
        assert value not in everything
    for name in ("full", "reader", "audited"):  # system/* does not reach the trail: it needs AuditEvent by name
        assert_forbidden(requests.get(f"{embedded.fhir}/AuditEvent", params={"agent": client_id},
                                      headers=bearer(embedded.token(name)), timeout=10), "system/AuditEvent.s")


# 6. Starting the engine.

def test_serve_refuses_auth_off_when_a_listener_is_not_on_loopback(tmp_path):
    env = engine_env(tmp_path, {"CAREBRIDGE_AUTH": "off", "CAREBRIDGE_BIND_HOST": "0.0.0.0",
                                "CAREBRIDGE_HTTP_PORT": str(free_port()), "CAREBRIDGE_MLLP_PORT": str(free_port())})
    started = subprocess.run([sys.executable, "-m", "carebridge.cli", "serve"], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert "CAREBRIDGE_AUTH=off" in started.stderr and "loopback" in started.stderr, started.stderr
    assert "Carebridge is ready" not in started.stderr


def test_auth_off_on_loopback_is_served_with_a_warning_on_readyz(tmp_path):
    engine = start_engine(tmp_path, {"CAREBRIDGE_AUTH": "off"}, "--no-mllp")
    try:
        ready = requests.get(f"{engine.base_url}/readyz", timeout=10).json()
        assert any("CAREBRIDGE_AUTH=off" in warning for warning in ready["warnings"])
        assert requests.get(f"{engine.base_url}/fhir/Patient", timeout=10).status_code == 200
    finally:
        assert engine.stop() == 0, engine.log()
    assert "authentication is OFF" in engine.log()


def test_auth_on_has_no_warning_and_a_set_admin_password_is_not_printed(embedded):
    ready = requests.get(f"{embedded.engine.base_url}/readyz", timeout=10).json()
    assert ready["status"] == "ok" and "warnings" not in ready
    assert "Password: " not in embedded.engine.log() and ADMIN_PASSWORD not in embedded.engine.log()


def test_the_first_start_prints_a_generated_admin_password_once(tmp_path):
    first = start_engine(tmp_path, {"CAREBRIDGE_AUTH": "on"}, "--no-mllp", name="first")
    assert first.stop() == 0, first.log()
    assert first.log().count("Password: ") == 1
    second = start_engine(tmp_path, {"CAREBRIDGE_AUTH": "on"}, "--no-mllp", name="second")
    assert second.stop() == 0, second.log()
    assert "Password: " not in second.log()


# 7. Discovery.

def test_the_smart_configuration_is_open_and_names_the_token_endpoint_and_methods(embedded):
    for url in (f"{embedded.engine.base_url}/.well-known/smart-configuration",
                f"{embedded.fhir}/.well-known/smart-configuration"):
        answer = requests.get(url, timeout=10)
        assert answer.status_code == 200, url
        config = answer.json()
        assert config["token_endpoint"] == embedded.token_url
        assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]
        assert {"RS384", "ES384"} <= set(config["token_endpoint_auth_signing_alg_values_supported"])
        assert "client_credentials" in config["grant_types_supported"]


def test_the_capability_statement_is_open_and_names_smart_on_fhir_and_the_token_url(embedded):
    answer = requests.get(f"{embedded.fhir}/metadata", headers={"Accept": FHIR_JSON}, timeout=10)
    assert answer.status_code == 200
    security = answer.json()["rest"][0]["security"]
    codings = [c for service in security["service"] for c in service["coding"]]
    assert {"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR",
            "display": "SMART-on-FHIR"} in codings
    [oauth] = [e for e in security["extension"]
               if e["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"]
    assert {"url": "token", "valueUri": embedded.token_url} in oauth["extension"]
