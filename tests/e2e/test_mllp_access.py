"""Who may send over MLLP: TLS with the channel's certificate, mutual TLS that turns away a
client without a certificate from the channel's CA, and sender allowlists by network (CIDR)
and by MSH-3/MSH-4 whose refusals get AR and are kept as ``refused``. Certificates are made
here with ``cryptography``; the clients are Python's ``ssl`` and python-hl7's MLLP client."""

from __future__ import annotations

import datetime
import socket
import ssl
from pathlib import Path

import pytest
import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hl7.client import MLLPClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from engine.db.models import Message
from support.config import ROOT, TEST_API_KEY
from support.engine_process import start_engine
from support.hl7_messages import adt, read_answer
from support.ports import free_port

pytestmark = pytest.mark.e2e

SB, EB, CR = b"\x0b", b"\x1c", b"\r"


def _write_key(key, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def _certificate(subject: str, key, issuer_name: x509.Name | None, issuer_key, *, ca: bool,
                 san: str | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, the engine's certificate for ``localhost`` and a client certificate, all signed by the CA."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("Carebridge test CA", ca_key, None, ca_key, ca=True)
    files = {"ca": folder / "ca.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for name, san in (("server", "localhost"), ("client", None)):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(f"{name}.test", key, ca.subject, ca_key, ca=False, san=san)
        files[f"{name}_cert"] = folder / f"{name}.pem"
        files[f"{name}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[f"{name}_key"] = _write_key(key, folder / f"{name}.key")
    return files


@pytest.fixture(scope="module")
def engine(tmp_path_factory, pki):
    from simulators.carepatron import CarepatronSimulator

    tmp_path = tmp_path_factory.mktemp("mllp-access")
    ports = {name: free_port() for name in ("tls", "mutual", "network", "facility")}
    tls = {"cert": str(pki["server_cert"]), "key": str(pki["server_key"])}
    data = yaml.safe_load((ROOT / "config" / "engine.yaml").read_text())
    data["channels"] = [
        {"name": "tls", "type": "mllp", "port": ports["tls"], "tls": tls},
        {"name": "mutual", "type": "mllp", "port": ports["mutual"], "tls": {**tls, "client_ca": str(pki["ca"])}},
        # Loopback is outside this network: every sender here is refused.
        {"name": "network", "type": "mllp", "port": ports["network"], "allowed_networks": ["10.20.0.0/16"]},
        {"name": "facility", "type": "mllp", "port": ports["facility"], "allowed_networks": ["127.0.0.0/8", "::1/128"],
         "allowed_senders": [{"facility": "HOSP"}]},
    ]
    config = tmp_path / "engine.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    with CarepatronSimulator(api_key=TEST_API_KEY) as simulator:
        engine = start_engine(tmp_path, {"CAREPATRON_BASE_URL": simulator.base_url, "CAREPATRON_API_KEY": TEST_API_KEY,
                                         "CAREBRIDGE_CONFIG": str(config)})
        engine.ports = ports
        engine.database_url = f"sqlite:///{tmp_path / 'var' / 'carebridge.db'}"
        yield engine
        assert engine.stop() == 0, engine.log()


def _client_context(pki, *, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    if with_certificate:
        context.load_cert_chain(str(pki["client_cert"]), str(pki["client_key"]))
    return context


def _send_over_tls(port: int, context: ssl.SSLContext, message: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(SB + message + EB + CR)
            return read_answer(sock)


def _stored(engine, control_id: str) -> Message | None:
    database = create_engine(engine.database_url)
    try:
        with Session(database) as session:
            return session.scalars(select(Message).where(Message.control_id == control_id)).first()
    finally:
        database.dispose()


def test_a_message_over_tls_gets_aa(engine, pki):
    ack = _send_over_tls(engine.ports["tls"], _client_context(pki, with_certificate=False), adt("A01", "TLS-1"))
    assert b"MSA|AA|TLS-1" in ack
    assert _stored(engine, "TLS-1").status == "mapped"


def test_plain_mllp_on_a_tls_channel_is_never_processed(engine):
    with socket.create_connection(("127.0.0.1", engine.ports["tls"]), timeout=10) as sock:
        sock.sendall(SB + adt("A01", "PLAIN-1") + EB + CR)
        try:
            answer = sock.recv(65536)
        except (ConnectionError, socket.timeout):
            answer = b""
    assert b"MSA" not in answer
    assert _stored(engine, "PLAIN-1") is None


def test_mutual_tls_accepts_a_client_with_a_certificate_from_the_channels_ca(engine, pki):
    ack = _send_over_tls(engine.ports["mutual"], _client_context(pki, with_certificate=True), adt("A01", "MTLS-1"))
    assert b"MSA|AA|MTLS-1" in ack


def test_mutual_tls_refuses_a_client_without_a_certificate(engine, pki):
    with pytest.raises((ssl.SSLError, ConnectionError)):
        answer = _send_over_tls(engine.ports["mutual"], _client_context(pki, with_certificate=False),
                                adt("A01", "MTLS-NOCERT"))
        # TLS 1.3 reports the refusal only at the first read; an empty answer is a refusal too.
        if not answer:
            raise ConnectionError("closed without an answer")
    assert _stored(engine, "MTLS-NOCERT") is None


def test_a_sender_outside_the_allowed_networks_gets_ar_and_the_message_is_kept_as_refused(engine):
    message = adt("A01", "NET-1")
    with MLLPClient("127.0.0.1", engine.ports["network"]) as client:
        ack = client.send_message(message)
    assert b"MSA|AR|NET-1" in ack
    stored = _stored(engine, "NET-1")
    assert stored.status == "refused" and "network" in stored.error
    assert stored.raw == message
    listed = requests.get(f"{engine.base_url}/admin/api/messages", params={"status": "refused"}, timeout=10)
    assert listed.status_code == 200 and "NET-1" in listed.text


def test_a_sender_naming_another_facility_gets_ar_and_the_message_is_kept_as_refused(engine):
    other = adt("A01", "FAC-1").replace(b"|HOSP|", b"|ELSEWHERE|", 1)
    assert b"|ELSEWHERE|" in other
    with MLLPClient("127.0.0.1", engine.ports["facility"]) as client:
        refused = client.send_message(other)
        accepted = client.send_message(adt("A01", "FAC-2"))
    assert b"MSA|AR|FAC-1" in refused and b"MSH-4" in refused
    assert b"MSA|AA|FAC-2" in accepted
    assert _stored(engine, "FAC-1").status == "refused"
    assert _stored(engine, "FAC-2").status == "mapped"
