"""HTTPS on the HTTP listener: ``CAREBRIDGE_HTTP_TLS_CERT`` and ``CAREBRIDGE_HTTP_TLS_KEY`` turn
it into HTTPS (cheroot, TLS 1.2 at least) whose FHIR links say ``https``, plain HTTP on that port
gets no answer from the app, ``CAREBRIDGE_HTTP_TLS_CLIENT_CA`` asks for a client certificate from
that CA, and a half-set pair or a file that cannot be loaded stops the engine naming the variable
and the file, never the file's content. Certificates come from :mod:`support.pki`."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import requests

from carebridge.http_server import TLS_CERT, TLS_CLIENT_CA, TLS_KEY, http_tls
from foundation.yaml_files import ConfigError
from support.config import ROOT
from support.engine_process import START_TIMEOUT_SECONDS, EngineProcess, carebridge, engine_env
from support.pki import LOOPBACK_NAMES, TestCA
from support.ports import free_port

pytestmark = pytest.mark.e2e

FHIR_JSON = {"Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The engine's certificate for 127.0.0.1 and localhost, a client certificate from the same CA,
    and one from a CA the engine does not trust."""
    folder = tmp_path_factory.mktemp("pki")
    ca, stranger = TestCA(folder, "ca"), TestCA(folder, "stranger-ca")
    return {"ca": ca.cert, "server": ca.issue("server", LOOPBACK_NAMES), "client": ca.issue("client"),
            "stranger": stranger.issue("stranger")}


def _tls_env(pki) -> dict[str, str]:
    return {TLS_CERT: str(pki["server"].cert), TLS_KEY: str(pki["server"].key)}


def start_https_engine(tmp_path: Path, extra_env: dict[str, str], *, verify: Path,
                       client_cert: tuple[str, str] | None = None) -> EngineProcess:
    """``carebridge serve --no-mllp``, waited for over HTTPS (``start_engine`` asks over HTTP)."""
    port = free_port()
    env = engine_env(tmp_path, {"CAREBRIDGE_HTTP_PORT": str(port), "CAREBRIDGE_AUTH": "off", **extra_env})
    log_path = tmp_path / "engine.log"
    engine = EngineProcess(carebridge("serve", "--no-mllp", env=env, log_path=log_path), log_path, port, None, env)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if engine.process.poll() is not None:
            raise RuntimeError(f"carebridge serve exited with {engine.process.returncode}:\n{engine.log()}")
        try:
            answer = requests.get(f"https://127.0.0.1:{port}/healthz", verify=str(verify), cert=client_cert, timeout=1)
            if answer.status_code == 200 and "Carebridge is ready" in engine.log():
                return engine
        except requests.RequestException:
            pass
        time.sleep(0.2)
    engine.kill()
    raise RuntimeError(f"carebridge serve did not become ready over HTTPS:\n{engine.log()}")


@pytest.fixture(scope="module")
def engine(tmp_path_factory, pki):
    engine = start_https_engine(tmp_path_factory.mktemp("https"), _tls_env(pki), verify=pki["ca"])
    engine.url = f"https://127.0.0.1:{engine.http_port}"
    yield engine
    assert engine.stop() == 0, engine.log()
    assert "Carebridge stopped" in engine.log()


def test_health_over_https_with_a_certificate_the_ca_signed(engine, pki):
    answer = requests.get(engine.url + "/healthz", verify=str(pki["ca"]), timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert answer.headers["Server"] == "Carebridge"
    assert f"HTTPS on 127.0.0.1:{engine.http_port}" in engine.log()
    assert f"HTTP on 127.0.0.1:{engine.http_port}" not in engine.log()


def test_localhost_is_in_the_certificate_too(engine, pki):
    answer = requests.get(f"https://localhost:{engine.http_port}/healthz", verify=str(pki["ca"]), timeout=10)
    assert answer.json() == {"status": "ok"}


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_client_that_does_not_verify_gets_the_same_answer(engine):
    answer = requests.get(engine.url + "/healthz", verify=False, timeout=10)
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_a_client_that_verifies_against_the_system_cas_refuses_the_test_certificate(engine):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(engine.url + "/healthz", timeout=10)


def test_plain_http_on_the_https_port_never_reaches_the_app(engine):
    try:
        answer = requests.get(f"http://127.0.0.1:{engine.http_port}/healthz", timeout=10)
    except requests.ConnectionError:
        return
    assert answer.status_code != 200
    assert "status" not in answer.text
    assert "only speaks HTTPS" in answer.text


def test_clients_that_connect_and_never_finish_a_handshake_hold_up_no_one(engine, pki):
    # More of them than request threads: half say nothing, half start a TLS record and stop.
    stalled = [socket.create_connection(("127.0.0.1", engine.http_port), timeout=10) for _ in range(12)]
    try:
        for sock in stalled[::2]:
            sock.sendall(b"\x16\x03\x01\x02\x00\x01")
        time.sleep(0.3)
        started = time.monotonic()
        for _ in range(3):
            answer = requests.get(engine.url + "/healthz", verify=str(pki["ca"]), timeout=10)
            assert answer.json() == {"status": "ok"}
        assert time.monotonic() - started < 3
    finally:
        for sock in stalled:
            sock.close()


def test_tls_1_2_or_newer_is_negotiated_and_tls_1_1_is_refused(engine, pki):
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", engine.http_port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            assert sock.version() == "TLSv1.2"
    with socket.create_connection(("127.0.0.1", engine.http_port), timeout=10) as raw:
        with ssl.create_default_context(cafile=str(pki["ca"])).wrap_socket(raw, server_hostname="localhost") as sock:
            assert sock.version() in ("TLSv1.2", "TLSv1.3")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(cafile=str(pki["ca"]))
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # lets this client offer TLS 1.0 and 1.1: the refusal is the server's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 and 1.1 are deprecated: the point here
        old.minimum_version, old.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", engine.http_port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            old.wrap_socket(raw, server_hostname="localhost")


def test_the_capability_statement_states_an_https_base(engine, pki):
    answer = requests.get(engine.url + "/fhir/metadata", headers=FHIR_JSON, verify=str(pki["ca"]), timeout=10)
    assert answer.status_code == 200
    statement = answer.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["implementation"]["url"] == f"{engine.url}/fhir"


def test_search_bundle_links_use_https(engine, pki):
    answer = requests.get(engine.url + "/fhir/Patient", headers=FHIR_JSON, verify=str(pki["ca"]), timeout=10)
    assert answer.status_code == 200
    links = [link["url"] for link in answer.json()["link"]]
    assert links and all(url.startswith(f"{engine.url}/fhir/Patient") for url in links)


def test_a_request_line_naming_http_never_makes_links_http(engine, pki):
    # cheroot refuses an absolute-form request line (strict mode); were it to serve one, the
    # engine still says https: the transport decides the scheme, not the request line.
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    connection = http.client.HTTPSConnection("127.0.0.1", engine.http_port, context=context, timeout=10)
    try:
        connection.request("GET", f"http://127.0.0.1:{engine.http_port}/fhir/metadata", headers=FHIR_JSON)
        answer = connection.getresponse()
        body = answer.read()
    finally:
        connection.close()
    assert answer.status in (200, 400)
    if answer.status == 200:
        assert json.loads(body)["implementation"]["url"] == f"{engine.url}/fhir"
    assert b"http://" not in body


@pytest.fixture(scope="module")
def mutual_engine(tmp_path_factory, pki):
    client = (str(pki["client"].cert), str(pki["client"].key))
    env = {**_tls_env(pki), TLS_CLIENT_CA: str(pki["ca"])}
    engine = start_https_engine(tmp_path_factory.mktemp("https-mutual"), env, verify=pki["ca"], client_cert=client)
    engine.url = f"https://127.0.0.1:{engine.http_port}"
    yield engine
    assert engine.stop() == 0, engine.log()


def test_mutual_tls_serves_a_client_with_a_certificate_from_the_ca(mutual_engine, pki):
    client = (str(pki["client"].cert), str(pki["client"].key))
    answer = requests.get(mutual_engine.url + "/healthz", verify=str(pki["ca"]), cert=client, timeout=10)
    assert answer.json() == {"status": "ok"}
    assert f"HTTPS on 127.0.0.1:{mutual_engine.http_port} (mutual TLS)" in mutual_engine.log()


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate"])
def test_mutual_tls_turns_away_other_clients(mutual_engine, pki, who):
    cert = (str(pki["stranger"].cert), str(pki["stranger"].key)) if who != "no certificate" else None
    with pytest.raises(requests.ConnectionError):
        requests.get(mutual_engine.url + "/healthz", verify=str(pki["ca"]), cert=cert, timeout=10)


def _serve(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carebridge.cli", "serve", "--no-mllp"], cwd=ROOT, timeout=120,
                          capture_output=True, text=True,
                          env=engine_env(tmp_path, {"CAREBRIDGE_HTTP_PORT": str(free_port()), **env}))


def test_a_certificate_without_a_key_stops_the_engine_naming_the_key_variable(tmp_path, pki):
    result = _serve(tmp_path, {TLS_CERT: str(pki["server"].cert)})
    assert result.returncode == 2, result.stderr
    assert f"configuration error:\nenvironment: {TLS_KEY}: is not set but {TLS_CERT} is" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "carebridge.db").exists()  # stopped before touching the database


def test_a_certificate_file_that_is_not_pem_stops_the_engine_naming_the_file_not_its_content(tmp_path, pki):
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("NOT-A-CERTIFICATE-but-a-secret-value\n")
    result = _serve(tmp_path, {TLS_CERT: str(bogus), TLS_KEY: str(pki["server"].key)})
    assert result.returncode == 2, result.stderr
    assert f"environment: {TLS_CERT}, {TLS_KEY}: cannot load the certificate {bogus}" in result.stderr
    assert "secret-value" not in result.stderr + result.stdout
    assert "PRIVATE KEY" not in result.stderr + result.stdout


def test_only_a_key_names_the_certificate_variable(pki):
    with pytest.raises(ConfigError, match=f"{TLS_CERT}: is not set but {TLS_KEY} is"):
        http_tls({TLS_KEY: str(pki["server"].key)})


def test_a_client_ca_without_a_certificate_is_refused(pki):
    with pytest.raises(ConfigError, match=f"{TLS_CLIENT_CA}: is set but"):
        http_tls({TLS_CLIENT_CA: str(pki["ca"])})


def test_a_missing_file_is_named_with_its_variable(tmp_path, pki):
    missing = tmp_path / "nowhere" / "server.key"
    with pytest.raises(ConfigError) as raised:
        http_tls({TLS_CERT: str(pki["server"].cert), TLS_KEY: str(missing)})
    assert str(raised.value) == f"environment: {TLS_KEY}: cannot read {missing}: FileNotFoundError"


def test_a_key_that_does_not_match_the_certificate_is_refused(pki):
    with pytest.raises(ConfigError, match=f"{TLS_CERT}, {TLS_KEY}: cannot load the certificate"):
        http_tls({TLS_CERT: str(pki["server"].cert), TLS_KEY: str(pki["client"].key)})


def test_a_client_ca_that_is_not_pem_is_named(tmp_path, pki):
    bogus = tmp_path / "ca.pem"
    bogus.write_text("garbage\n")
    with pytest.raises(ConfigError, match=f"{TLS_CLIENT_CA}: cannot load client_ca"):
        http_tls({**_tls_env(pki), TLS_CLIENT_CA: str(bogus)})


def test_neither_set_is_plain_http_and_the_context_refuses_below_tls_1_2(pki):
    assert http_tls({}) is None
    tls = http_tls({**_tls_env(pki), TLS_CLIENT_CA: str(pki["ca"])})
    assert tls.context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls.context.verify_mode == ssl.CERT_REQUIRED
    assert http_tls(_tls_env(pki)).context.verify_mode == ssl.CERT_NONE
