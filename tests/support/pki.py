"""Test certificates made with ``cryptography``: a CA and, signed by it, server and client
certificates as PEM files (EC P-256 keys, valid for a day)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: The names a loopback server's certificate is valid for.
LOOPBACK_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_key(key, path: Path) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def _certificate(subject: str, key, issuer_name: x509.Name | None, issuer_key, *, ca: bool,
                 names: tuple[str, ...] = ()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class TestCA:
    """A CA whose certificate is ``folder/<name>.pem``; :meth:`issue` signs certificates with it."""

    __test__ = False  # not a pytest test class

    def __init__(self, folder: Path, name: str = "ca"):
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = _certificate(f"Carebridge test CA {name}", self._key, None, self._key, ca=True)
        self.cert = folder / f"{name}.pem"
        self.cert.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, names: tuple[str, ...] = ()) -> Issued:
        """A certificate for ``names`` (DNS names or IP addresses; none for a client) and its key."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(f"{name}.test", key, self._cert.subject, self._key, ca=False, names=names)
        cert_path = self.folder / f"{name}.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return Issued(cert_path, _write_key(key, self.folder / f"{name}.key"))
