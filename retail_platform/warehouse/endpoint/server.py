"""The endpoint as a whole: listening socket, engine, handle pool, sessions, and orderly shutdown."""

from __future__ import annotations

import errno
import logging
import socket
import socketserver
import ssl
import threading
import time
from http.server import ThreadingHTTPServer

from retail_platform.warehouse.endpoint.config import EndpointConfig
from retail_platform.warehouse.endpoint.engine import Engine
from retail_platform.warehouse.endpoint.execution import Executor
from retail_platform.warehouse.endpoint.handler import EndpointHandler
from retail_platform.warehouse.endpoint.pool import HandlePool
from retail_platform.warehouse.endpoint.sessions import SessionStore

log = logging.getLogger("retail_platform.warehouse.endpoint")


class PortBusy(RuntimeError):
    """The port is taken by another process."""


class EndpointServer(ThreadingHTTPServer):
    """One thread per connection; knows its connections so it can stop without cutting requests."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self.draining = False
        self.version = ""
        self.executor: Executor
        self._handlers: set[EndpointHandler] = set()
        self._handlers_lock = threading.Lock()
        self._idle_handlers = threading.Condition(self._handlers_lock)
        # TLS is set up per accepted socket in the connection's own thread (handler.setup), so a slow
        # or failed handshake never holds up accepting other connections.
        self.ssl_context: ssl.SSLContext | None = None
        if config.tls_cert is not None and config.tls_key is not None:
            self.ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ssl_context.load_cert_chain(config.tls_cert, config.tls_key)
        try:
            super().__init__((config.bind_host, config.port), EndpointHandler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortBusy(
                    f"port {config.port} on {config.bind_host} is already in use; stop the other server or pass --port"
                ) from None
            raise

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall on a machine
        # without DNS; the name is not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def track(self, handler: EndpointHandler) -> None:
        with self._handlers_lock:
            self._handlers.add(handler)

    def untrack(self, handler: EndpointHandler) -> None:
        with self._handlers_lock:
            self._handlers.discard(handler)
            self._idle_handlers.notify_all()

    def drain(self, grace: float, force_wait: float = 5.0) -> bool:
        """Let in-flight requests finish, close idle keep-alive connections; True if all ended in time.

        Past ``grace`` the remaining connections are cut (their queries cancelled, inserts not
        committed) and their threads get ``force_wait`` more seconds to leave the engine.
        """
        self.draining = True
        grace_end = time.monotonic() + grace
        hard_end = grace_end + force_wait
        clean = True
        with self._handlers_lock:
            while self._handlers:
                now = time.monotonic()
                if now >= hard_end:
                    return False
                for handler in self._handlers:
                    if handler.idle or now >= grace_end:
                        clean = clean and handler.idle
                        _shutdown_socket(handler.connection)
                self._idle_handlers.wait(0.1)
        return clean


def _shutdown_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Endpoint:
    """A running endpoint: create it, then ``serve_forever()`` (blocking) or ``start()`` (a thread)."""

    def __init__(self, config: EndpointConfig) -> None:
        config.validate()
        self.config = config
        self.server = EndpointServer(config)
        try:
            self.engine = Engine(config.data_dir)
        except BaseException:
            self.server.server_close()
            raise
        self.pool = HandlePool(self.engine.new_handle, config.pool_size, overflow=3 * config.pool_size)
        self.sessions = SessionStore()
        self.server.version = self.engine.version
        self.server.executor = Executor(
            self.engine, self.pool, self.sessions, config.database, acquire_timeout=config.receive_timeout
        )
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.config.listen_any else self.config.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        self._serving.set()
        self.server.serve_forever(poll_interval=0.2)

    def start(self) -> Endpoint:
        self._thread = threading.Thread(target=self.serve_forever, name="warehouse-endpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self, grace: float | None = None) -> bool:
        """Stop accepting, let in-flight requests finish (up to ``grace`` seconds), close the engine."""
        if self._stopped:
            return True
        self._stopped = True
        if self._serving.is_set():
            self.server.shutdown()
        clean = self.server.drain(self.config.shutdown_grace if grace is None else grace)
        self.server.server_close()
        self.pool.close()
        self.engine.close()
        if not clean:
            log.warning("stopped with requests still running after the grace period")
        return clean
