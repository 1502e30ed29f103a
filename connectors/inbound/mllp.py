"""The MLLP listener: frames HL7 v2 messages off TCP connections and answers each with its ACK.

It frames (connectors/inbound/mllp_framing.py) and acknowledges; it does not map. Each
frame goes to a handler (the HL7 receiver, run on a thread pool because it writes to the
database) and the ACK goes back only when the handler returns, that is after the message is
committed. Answers are written with python-hl7's MLLP stream writer.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from hl7.mllp.streams import MLLPStreamWriter

from connectors.inbound.mllp_framing import Frame, FrameProblem, next_frame, unfinished
from foundation.code_trace import code_trace

log = logging.getLogger(__name__)

#: A connection silent this long is closed (seconds); a message it left unfinished is kept.
DEFAULT_IDLE_TIMEOUT_SECONDS = 300.0
#: Bytes read from the socket at a time.
READ_CHUNK = 64 * 1024
#: Connections one channel keeps open at once; one more is closed at once, unanswered.
DEFAULT_MAX_CONNECTIONS = 64


class MllpListener:
    """An asyncio MLLP server run on its own thread.

    Example::

        listener = MllpListener("127.0.0.1", 2575, handle_frame, max_message_bytes=10 * 1024 * 1024)
        listener.start(); ...; listener.stop()

    ``handle_frame(frame, peer)`` returns the ACK bytes to send, or ``None`` to send nothing.
    Past ``max_connections`` open at once, a new connection is closed unanswered and logged with
    its address; those open already carry on.
    """

    def __init__(self, host: str, port: int, handle_frame: Callable[[Frame, str], bytes | None],
                 max_message_bytes: int, handler_threads: int = 8,
                 idle_timeout_seconds: float = DEFAULT_IDLE_TIMEOUT_SECONDS, ssl_context: ssl.SSLContext | None = None,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS):
        self.host = host
        self.port = port
        self.handle_frame = handle_frame
        self.max_message_bytes = max_message_bytes
        self.idle_timeout_seconds = idle_timeout_seconds
        self.max_connections = max_connections
        #: Connections being served; touched only on the event loop's thread.
        self._open_connections = 0
        #: TLS (connectors/inbound/tls.py); a client that fails the handshake never reaches the handler.
        self.ssl_context = ssl_context
        self._executor = ThreadPoolExecutor(max_workers=handler_threads, thread_name_prefix="carebridge-mllp")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # Life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="carebridge-mllp-listener", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._startup_error:
            raise self._startup_error

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._serve_connection, self.host, self.port, limit=READ_CHUNK * 2,
                                     ssl=self.ssl_context))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # port in use, bad address
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        log.info("MLLP listener on %s:%s", self.host, self.port)
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def stop(self) -> None:
        """Stop accepting, let frames being handled finish, then stop the loop."""
        if self._loop is None or self._server is None:
            return

        async def shutdown() -> None:
            self._server.close()
            await self._server.wait_closed()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        except Exception:
            log.warning("MLLP listener did not close cleanly")
        self._executor.shutdown(wait=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(timeout=10)

    # Connections -----------------------------------------------------------------------

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if self._open_connections >= self.max_connections:
            log.warning("MLLP connection from %s refused: %d connections are open, the channel's max_connections",
                        peer_text, self._open_connections)
            writer.transport.abort()  # nothing read, nothing answered, no lingering close
            return
        self._open_connections += 1
        try:
            await self._serve_frames(reader, writer, peer_text)
        finally:
            self._open_connections -= 1

    async def _serve_frames(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer_text: str) -> None:
        mllp_writer = MLLPStreamWriter(writer.transport, writer._protocol, reader, asyncio.get_running_loop())
        buffer = bytearray()
        try:
            while True:
                frame, close = next_frame(buffer, self.max_message_bytes)
                if frame is None:
                    try:
                        chunk = await asyncio.wait_for(reader.read(READ_CHUNK), self.idle_timeout_seconds)
                        ended = unfinished(buffer, FrameProblem.CUT_OFF, "connection closed in the middle of a message")
                    except asyncio.TimeoutError:
                        # Like a close, except the sender is still there to read the AR.
                        chunk = b""
                        ended = unfinished(buffer, FrameProblem.IDLE, f"connection idle for "
                                           f"{self.idle_timeout_seconds:g} s in the middle of a message")
                    if not chunk:
                        if ended is not None:
                            ack = await self._handle(ended, peer_text)
                            if ack and not reader.at_eof():
                                mllp_writer.writeblock(ack)
                                await mllp_writer.drain()
                        break
                    buffer += chunk
                    continue
                ack = await self._handle(frame, peer_text)
                if ack:
                    mllp_writer.writeblock(ack)
                    await mllp_writer.drain()
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("MLLP connection from %s failed", peer_text)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except Exception:
                pass

    async def _handle(self, frame: Frame, peer: str) -> bytes | None:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self.handle_frame, frame, peer)
        except Exception as exc:
            log.error("handling a frame from %s failed%s", peer, code_trace(exc))
            return None
