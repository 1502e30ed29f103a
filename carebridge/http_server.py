"""The engine's HTTP listener: waitress for plain HTTP, or cheroot for HTTPS when
``CAREBRIDGE_HTTP_TLS_CERT`` and ``CAREBRIDGE_HTTP_TLS_KEY`` name a PEM certificate and key
(TLS 1.2 at least; with ``CAREBRIDGE_HTTP_TLS_CLIENT_CA`` mutual TLS, in which a client
without a certificate signed by that CA fails the handshake and never reaches the app).
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Callable

from engine.config.environment import ENVIRONMENT_SOURCE
from foundation.yaml_files import ConfigError

log = logging.getLogger(__name__)

TLS_CERT = "CAREBRIDGE_HTTP_TLS_CERT"
TLS_KEY = "CAREBRIDGE_HTTP_TLS_KEY"
TLS_CLIENT_CA = "CAREBRIDGE_HTTP_TLS_CLIENT_CA"
#: Request threads, as many for HTTPS as waitress has for HTTP.
THREADS = 8
#: What the ``Server`` header says.
SERVER_NAME = "Carebridge"


@dataclass(frozen=True)
class HttpTls:
    """The listener's certificate, key and optional client CA (file paths) and the context made of them."""

    cert: str
    key: str
    client_ca: str
    context: ssl.SSLContext


def _problem(name: str, text: str) -> ConfigError:
    return ConfigError(ENVIRONMENT_SOURCE, [f" {name}: {text}"])


def _readable(name: str, path: str) -> None:
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise _problem(name, f"cannot read {path}: {type(exc).__name__}") from None


def http_tls(environ: dict[str, str]) -> HttpTls | None:
    """The HTTPS settings, or ``None`` for plain HTTP when neither certificate nor key is set.

    Raises :class:`ConfigError` naming the variable when only one of the pair is set, or when
    a file cannot be read or loaded (naming the file, never showing its content).
    """
    from connectors.inbound.tls import server_context

    cert, key, client_ca = ((environ.get(name) or "").strip() for name in (TLS_CERT, TLS_KEY, TLS_CLIENT_CA))
    if not cert and not key:
        if client_ca:
            raise _problem(TLS_CLIENT_CA, f"is set but {TLS_CERT} and {TLS_KEY} are not; mutual TLS needs HTTPS")
        return None
    if not cert or not key:
        missing, given = (TLS_KEY, TLS_CERT) if cert else (TLS_CERT, TLS_KEY)
        raise _problem(missing, f"is not set but {given} is; set both for HTTPS or neither for HTTP")
    for name, path in ((TLS_CERT, cert), (TLS_KEY, key), (TLS_CLIENT_CA, client_ca)):
        if path:
            _readable(name, path)
    try:
        context = server_context({"cert": cert, "key": key, "client_ca": client_ca})
    except ValueError as exc:
        text = str(exc).removeprefix("tls: ")
        raise _problem(TLS_CLIENT_CA if text.startswith("cannot load client_ca") else f"{TLS_CERT}, {TLS_KEY}",
                       text) from None
    return HttpTls(cert, key, client_ca, context)


class HttpListener:
    """One HTTP or HTTPS server on its own thread: ``start()`` serves, ``stop()`` closes."""

    def __init__(self, scheme: str, host: str, port: int, run: Callable[[], None], close: Callable[[], None]):
        self.scheme, self.host, self.port = scheme, host, port
        self._run, self._close = run, close
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="carebridge-http", daemon=True)

    def _serve(self) -> None:
        try:
            self._run()
        except Exception:
            if not self._stopping:
                log.exception("the %s listener stopped with an error", self.scheme.upper())

    def start(self) -> "HttpListener":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        self._close()
        self._thread.join(10)


def _https_only(app):
    """The app with ``wsgi.url_scheme`` always ``https``: the transport decides, so FHIR links say https.
    cheroot would take the scheme of an absolute-form request line (``GET http://host/ HTTP/1.1``);
    in its strict mode it refuses those with 400, and this keeps it so should that change."""

    def application(environ, start_response):
        environ["wsgi.url_scheme"] = "https"
        return app(environ, start_response)

    return application


_PLAIN_HTTP_TEXT = b"The client sent a plain HTTP request, but this server only speaks HTTPS on this port."
#: What a client speaking plain HTTP to the HTTPS port is told (cheroot's words) before the port closes.
PLAIN_HTTP_ANSWER = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(_PLAIN_HTTP_TEXT), _PLAIN_HTTP_TEXT))


def _handshake_step(conn) -> str:
    """Take the TLS handshake of a cheroot connection as far as the bytes that came allow, without
    waiting for more: ``"done"``, ``"wait"`` (back to cheroot's selector) or ``"close"``."""
    sock, started = conn.socket, getattr(conn, "handshake_started", None)
    if started is None:
        conn.handshake_started = started = time.monotonic()
    elif time.monotonic() - started > conn.server.timeout:
        log.info("TLS handshake with %s:%s took too long", conn.remote_addr, conn.remote_port)
        return "close"
    try:
        sock.settimeout(0)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            return "wait"
        except ssl.SSLWantWriteError:  # the server's flight did not fit the send buffer: finish it blocking
            sock.settimeout(conn.server.timeout)
            sock.do_handshake()
    except ssl.SSLError as exc:
        if exc.reason == "HTTP_REQUEST":
            with contextlib.suppress(OSError):  # on the bare socket: the client speaks no TLS
                os.write(sock.fileno(), PLAIN_HTTP_ANSWER)
        log.info("TLS handshake with %s:%s failed: %s", conn.remote_addr, conn.remote_port,
                 exc.reason or type(exc).__name__)
        return "close"
    except OSError as exc:
        log.info("TLS handshake with %s:%s failed: %s", conn.remote_addr, conn.remote_port, type(exc).__name__)
        return "close"
    sock.settimeout(conn.server.timeout)
    conn.ssl_env = conn.server.ssl_adapter.get_environ(sock)
    return "done"


def _cheroot_server(app, host: str, port: int, tls: HttpTls):
    """cheroot with the handshake moved off its accepting thread.

    Stock cheroot shakes hands inside ``accept``, on the one thread that accepts every connection:
    a client that connects and sends nothing holds up all others for the socket timeout (10 s),
    and a few such clients keep the API unreachable. Here the handshake advances whenever the
    client's bytes arrive, on a request thread that never waits for them.
    """
    from cheroot import server as cheroot_server
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    class Adapter(BuiltinSSLAdapter):
        def wrap(self, sock):
            return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), {}

    class Connection(cheroot_server.HTTPConnection):
        handshake_done = False

        def communicate(self):
            if not self.handshake_done:
                step = _handshake_step(self)
                if step != "done":
                    return step == "wait"
                self.handshake_done = True
            return super().communicate()

    class Server(wsgi.Server):
        ConnectionClass = Connection

        def error_log(self, msg="", level=logging.INFO, traceback=False):
            # Connection-level notes name the client's address, never a request's content.
            log.log(level, "%s", msg, exc_info=traceback)

    server = Server((host, port), _https_only(app), numthreads=THREADS, server_name=SERVER_NAME)
    adapter = Adapter(tls.cert, tls.key)
    adapter.context = tls.context  # TLS 1.2 at least, and the client CA, as the MLLP listener has them
    server.ssl_adapter = adapter
    return server


def start_http_listener(app, host: str, port: int, tls: HttpTls | None) -> HttpListener:
    """Bind ``host:port`` (a port in use raises here) and serve ``app`` on a thread: HTTPS under
    cheroot with ``tls``, plain HTTP under waitress without."""
    if tls is None:
        from waitress.server import create_server

        server = create_server(app, host=host, port=port, threads=THREADS, ident=SERVER_NAME)
        return HttpListener("http", host, port, server.run, server.close).start()
    server = _cheroot_server(app, host, port, tls)
    server.prepare()
    return HttpListener("https", host, port, server.serve, server.stop).start()
