"""An OpenSSH server on loopback, started by the SFTP test itself with a fresh host key and a
fresh client key, serving SFTP to the current user only.

``openssh-server`` is installed with apt-get when missing and the test runs as root; otherwise
the test is skipped with the reason (with ``CI=true``, failed).
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest

from support.ports import free_port

SSHD = "/usr/sbin/sshd"
#: How long the server may take to accept connections.
START_TIMEOUT_SECONDS = 15


def _missing(reason: str) -> None:
    message = f"SFTP test needs OpenSSH's sshd: {reason} (install with: apt-get install -y openssh-server)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing service is a failure)")
    pytest.skip(message)


def ensure_sshd() -> str:
    """The sshd binary, installed first when allowed."""
    if os.path.exists(SSHD):
        return SSHD
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        _missing("not installed, and this user cannot install it")
    install = ["apt-get", "install", "-y", "-qq", "openssh-server"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, capture_output=True, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env)
        if subprocess.run(install, capture_output=True, env=env).returncode != 0:
            _missing("apt-get could not install openssh-server")
    return SSHD


@dataclass
class LoopbackSshd:
    process: subprocess.Popen
    port: int
    username: str
    private_key_path: Path
    #: A known_hosts file naming this server's host key.
    known_hosts_path: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def start_sshd(directory: Path) -> LoopbackSshd:
    """Run sshd on a free loopback port, accepting only a key made here."""
    sshd = ensure_sshd()
    directory.mkdir(parents=True, exist_ok=True)
    host_key, client_key = directory / "host_ed25519", directory / "client_ed25519"
    for path in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    authorized = directory / "authorized_keys"
    shutil.copy(f"{client_key}.pub", authorized)
    authorized.chmod(0o600)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    port = free_port()
    config = directory / "sshd_config"
    config.write_text("\n".join([
        "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {host_key}", f"AuthorizedKeysFile {authorized}",
        f"PidFile {directory / 'sshd.pid'}", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes", "PermitRootLogin prohibit-password", "UsePAM no", "StrictModes no",
        "Subsystem sftp internal-sftp", "LogLevel ERROR", ""]))
    process = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stderr=open(directory / "sshd.log", "ab"))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _missing(f"sshd exited: {(directory / 'sshd.log').read_text(errors='replace')}")
        try:
            transport = paramiko.Transport(("127.0.0.1", port))
            transport.start_client(timeout=2)
            transport.close()
            known_hosts = directory / "known_hosts"
            key_type, key = Path(f"{host_key}.pub").read_text().split()[:2]
            known_hosts.write_text(f"[127.0.0.1]:{port} {key_type} {key}\n")
            return LoopbackSshd(process, port, getpass.getuser(), client_key, known_hosts)
        except (OSError, paramiko.SSHException):
            time.sleep(0.2)
    process.kill()
    _missing("sshd did not start listening")
    raise AssertionError("unreachable")
