"""TLS for the MLLP listener: a server certificate and key, and with ``client_ca`` mutual TLS, in
which a client without a certificate signed by that CA never gets to send a byte of HL7."""

from __future__ import annotations

import ssl
from typing import Any


def server_context(tls: dict[str, Any]) -> ssl.SSLContext:
    """The server side of a channel's ``tls: {cert, key, client_ca}``; TLS 1.2 at least.

    Raises ``ValueError`` naming the file that cannot be read (never its content).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls["cert"], tls["key"])
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"tls: cannot load the certificate {tls['cert']} and key {tls['key']}: "
                         f"{type(exc).__name__}") from None
    if tls.get("client_ca"):
        try:
            context.load_verify_locations(cafile=tls["client_ca"])
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"tls: cannot load client_ca {tls['client_ca']}: {type(exc).__name__}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context
