"""The HTTP request handler: ClickHouse's URL layout, authentication and error replies."""

from __future__ import annotations

import logging
import socket
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from retail_platform.warehouse.endpoint.body import RequestBody
from retail_platform.warehouse.endpoint.errors import EndpointError
from retail_platform.warehouse.endpoint.request import QueryRequest, authenticate, parse_form, parse_request
from retail_platform.warehouse.endpoint.response import Response

if TYPE_CHECKING:
    from retail_platform.warehouse.endpoint.server import EndpointServer

log = logging.getLogger("retail_platform.warehouse.endpoint")

# After a failed request the rest of its body is read and dropped so the client, still sending,
# gets the error reply instead of a reset connection; beyond this much the connection is closed.
_DRAIN_LIMIT = 256 << 20
# ClickHouse accepts URLs up to http_max_uri_size (1 MiB); GET queries travel in them.
_MAX_REQUEST_LINE = 1 << 20
_OK = b"Ok.\n"
_TLS_HANDSHAKE_TIMEOUT = 10.0


class EndpointHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EndpointServer
    idle = True

    def setup(self) -> None:
        if self.server.ssl_context is not None:
            self.request.settimeout(_TLS_HANDSHAKE_TIMEOUT)
            self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        super().setup()
        # Without it every small reply waits for the peer's delayed ACK (~40-50 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self)

    def handle_one_request(self) -> None:
        if self.server.draining:
            self.close_connection = True
            return
        self.idle = True
        self.connection.settimeout(self.server.config.keep_alive_timeout)
        try:
            self.raw_requestline = self.rfile.readline(_MAX_REQUEST_LINE + 1)
        except OSError:  # keep-alive timeout, or the server closing idle connections to stop
            self.close_connection = True
            return
        self.idle = False
        if not self.raw_requestline:
            self.close_connection = True
            return
        self.connection.settimeout(self.server.config.receive_timeout)
        if len(self.raw_requestline) > _MAX_REQUEST_LINE:
            self.requestline, self.request_version, self.command = "", "", ""
            self.send_error(414)
            return
        if not self.parse_request():
            return
        if self.command not in ("GET", "POST"):
            self.send_error(501, f"Unsupported method ({self.command!r})")
            return
        try:
            self._serve()
        except (ConnectionError, TimeoutError) as exc:
            log.debug("connection lost: %s", exc)
            self.close_connection = True
        if self.server.draining:
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        url = urlsplit(self.path)
        pairs = parse_qsl(url.query, keep_blank_values=True)
        body = RequestBody(self.rfile, self.headers.get("Content-Length"), self.headers.get("Transfer-Encoding"))
        out = Response(
            self.wfile,
            keep_alive=not self.close_connection,
            keep_alive_timeout=self.server.config.keep_alive_timeout,
            chunked=self.request_version != "HTTP/1.0",
        )
        request: QueryRequest | None = None
        try:
            if url.path in ("/ping", "/replicas_status") or (
                url.path == "/" and self.command == "GET" and not any(k == "query" for k, _ in pairs)
            ):
                out.send_whole(200, {"Content-Type": "text/html; charset=UTF-8"}, _OK)
                return
            content_type = self.headers.get("Content-Type", "")
            if self.command == "POST" and content_type.lower().startswith("multipart/form-data"):
                pairs += parse_form(content_type, b"".join(body.chunks()))
                body = RequestBody(self.rfile, "0", None)
            request = parse_request(self.command, pairs, self.headers)
            request.account = authenticate(self.server.config.accounts, request.credentials)
            self.server.executor.execute(request, None if self.command == "GET" else body, self.headers, out)
        except EndpointError as error:
            self._reply_error(error, body, out, request)
        except (ConnectionError, TimeoutError):
            raise
        except Exception as exc:  # a bug here must not kill the connection thread silently
            log.exception("unexpected error serving %s", self.path[:200])
            self._reply_error(EndpointError.of("STD_EXCEPTION", f"{type(exc).__name__}: {exc}"), body, out, request)
        finally:
            if out.broken or not out.keep_alive or (not body.finished and not body.drain(_DRAIN_LIMIT)):
                self.close_connection = True

    def _reply_error(
        self, error: EndpointError, body: RequestBody, out: Response, request: QueryRequest | None
    ) -> None:
        log.debug("query failed: %s", error.text)
        if out.started:
            if not out.broken:
                out.fail(error, self.server.version)
            self.close_connection = True
            return
        if not body.finished and not body.drain(_DRAIN_LIMIT):
            self.close_connection = True
        out.keep_alive = not self.close_connection
        headers = {"X-ClickHouse-Query-Id": request.query_id} if request else {}
        out.send_error(error, self.server.version, headers)
