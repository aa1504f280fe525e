"""Running one request's statement on the engine and writing its result.

Routing: statements the engine classifies as reads or table writes run on a pooled handle.
Statements classified as CONTROL (SET, USE, SYSTEM, ..., anything that could change a handle's own
state) run on a fresh scratch handle that is closed afterwards; for a session, what a SET/USE
changed is read back from it and replayed on later queries. In read-only mode (GET, readonly=1)
only reads and SET/USE are accepted.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from typing import Any, Protocol

from retail_platform.warehouse.endpoint.body import RequestBody, Statement, read_statement
from retail_platform.warehouse.endpoint.compression import Encoder, choose_encoder
from retail_platform.warehouse.endpoint.engine import CONTROL, READ_ONLY, Engine, Handle
from retail_platform.warehouse.endpoint.errors import EndpointError
from retail_platform.warehouse.endpoint.formats import ArrowStreamJoiner, StreamMode, content_type, stream_mode
from retail_platform.warehouse.endpoint.outside import refuse_outside_calls
from retail_platform.warehouse.endpoint.pool import HandlePool
from retail_platform.warehouse.endpoint.request import Headers, QueryRequest
from retail_platform.warehouse.endpoint.response import Response, Summary
from retail_platform.warehouse.endpoint.sessions import Session, SessionStore
from retail_platform.warehouse.endpoint.statements import output_format

# Insert bodies are spooled here before the engine reads them (memory-backed where possible).
SPOOL_DIR = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
_INSERT_SETTINGS = re.compile(r"\s+SETTINGS\s+(?P<settings>(?:(?!\bSETTINGS\b).)*)\Z", re.IGNORECASE | re.DOTALL)
_WHOLE_SLICE = 1 << 20
_SPOOL_IN_MEMORY = 8 << 20
_STREAMING_UNSUPPORTED = "Streaming query is not supported"
_SESSION_STATEMENT = re.compile(r"\s*(SET|USE)\s", re.IGNORECASE)


class _Stream(Protocol):
    """What the engine's ``send_query`` returns (chdb's StreamingResult, which has no annotations)."""

    def fetch(self) -> Any: ...  # a result chunk (bytes() and the row counters), None at the end
    def cancel(self) -> None: ...


class Executor:
    def __init__(
        self,
        engine: Engine,
        pool: HandlePool,
        sessions: SessionStore,
        default_database: str,
        acquire_timeout: float = 300.0,
    ) -> None:
        self.engine = engine
        self.pool = pool
        self.sessions = sessions
        self.default_database = default_database
        self.acquire_timeout = acquire_timeout
        self._running: set[str] = set()
        self._running_lock = threading.Lock()

    @contextlib.contextmanager
    def _query_id(self, query_id: str) -> Iterator[None]:
        with self._running_lock:
            if query_id in self._running:
                raise EndpointError.of(
                    "QUERY_WITH_SAME_ID_IS_ALREADY_RUNNING", f"Query with id = {query_id} is already running"
                )
            self._running.add(query_id)
        try:
            yield
        finally:
            with self._running_lock:
                self._running.discard(query_id)

    def execute(self, request: QueryRequest, body: RequestBody | None, headers: Headers, out: Response) -> None:
        with self._query_id(request.query_id):
            if request.session_id:
                with self.sessions.use(request.session_id, request.session_timeout, request.session_check) as session:
                    self._execute(request, body, headers, out, session)
            else:
                self._execute(request, body, headers, out, None)

    def _execute(
        self,
        request: QueryRequest,
        body: RequestBody | None,
        headers: Headers,
        out: Response,
        session: Session | None,
    ) -> None:
        statement = read_statement(request.query, body, headers.get("Content-Encoding", ""))
        if not statement.sql.strip():
            raise EndpointError.of("SYNTAX_ERROR", "Empty query")
        settings = {**(session.settings if session else {}), **request.settings}
        locked = request.account is not None and request.account.read_only
        if locked:
            readonly = _account_readonly(settings.pop("readonly", "1"))
        else:
            readonly = _readonly_level(settings.pop("readonly", "0"), request.method)
        database = request.database or (session.database if session else None) or self.default_database
        kind = self.engine.classify(statement.sql)
        if readonly and kind != READ_ONLY and not (kind == CONTROL and _SESSION_STATEMENT.match(statement.sql)):
            # The engine's readonly mode lets some writes through (INSERT INTO FUNCTION, INTO OUTFILE,
            # KILL QUERY), so only reads and SET/USE are let near it.
            raise EndpointError.of("READONLY", _readonly_message(readonly, request.method))
        # A read-only account's statement runs on a handle of its own with readonly=1 set after its URL
        # and session settings and before the statement: the engine then refuses a SET or a SETTINGS
        # clause that would lift it. Pooled handles cannot be used: readonly=1 cannot be unset.
        scratch = kind == CONTROL or locked
        handle = self.engine.new_handle() if scratch else self.pool.acquire(self.acquire_timeout)
        try:
            handle.prepare(database, settings)
            if scratch and readonly:
                handle.conn.query(f"SET readonly = {readonly}", "TSV")
            if locked and kind == READ_ONLY:
                assert request.account is not None
                refuse_outside_calls(
                    handle.canonical(statement.sql), self.engine.outside_functions, request.account.user
                )
            run = _Run(self.engine, handle, request, settings, out, headers.get("Accept-Encoding", ""))
            if statement.insert_format:
                run.insert(statement)
            else:
                run.query(statement.sql, kind)
            if scratch and session is not None:
                _remember_session_state(session, handle, request.settings, database, readonly)
        except (EndpointError, ConnectionError, TimeoutError):
            raise
        except Exception as exc:
            raise EndpointError.from_engine(exc) from exc
        finally:
            if scratch:
                handle.close()
            else:
                self.pool.release(handle)


def _readonly_message(level: int, method: str) -> str:
    if method == "GET" and level == 2:
        return (
            "Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. "
            "You should use method POST for modifying queries"
        )
    return "Cannot execute query in readonly mode"


def _account_readonly(value: str) -> int:
    """A read-only account always runs with readonly=1; asking for another level is refused, as
    ClickHouse refuses it for a user whose profile fixes readonly=1."""
    if value.strip() != "1":
        raise EndpointError.of("READONLY", "Cannot modify 'readonly' setting in readonly mode")
    return 1


def _readonly_level(value: str, method: str) -> int:
    try:
        level = int(value or "0")
    except ValueError:
        raise EndpointError.of("BAD_ARGUMENTS", f"Invalid value for setting 'readonly': {value!r}") from None
    # ClickHouse's rule: a GET request is readonly=2 (reads and settings changes) unless stricter.
    return 2 if method == "GET" and level == 0 else level


def _remember_session_state(
    session: Session, handle: Handle, query_settings: Mapping[str, str], database: str, readonly: int
) -> None:
    """Read back what a SET/USE statement changed, so later queries of the session replay it."""
    changed = {k: v for k, v in handle.changed_settings().items() if handle.baseline.get(k) != v}
    if readonly and changed.get("readonly") == str(readonly):
        del changed["readonly"]
    for name, value in list(changed.items()):
        # URL settings belong to that one query; keep the session's own value for them.
        if query_settings.get(name) == value:
            if name in session.settings:
                changed[name] = session.settings[name]
            else:
                del changed[name]
    session.settings = changed
    current = handle.current_database()
    if current != database:
        session.database = current


class _Run:
    """One statement on one handle."""

    def __init__(
        self,
        engine: Engine,
        handle: Handle,
        request: QueryRequest,
        settings: Mapping[str, str],
        out: Response,
        accept_encoding: str,
    ) -> None:
        self.engine = engine
        self.accept_encoding = accept_encoding
        self.handle = handle
        self.request = request
        self.settings = settings
        self.out = out
        self.started = time.perf_counter_ns()
        self.summary = Summary()
        self.format = request.default_format or settings.get("default_format") or "TabSeparated"

    def headers(self, fmt: str | None) -> dict[str, str]:
        """Response headers; ``fmt`` is None for statements without a result (clients tell them apart by
        the absence of X-ClickHouse-Format)."""
        self.summary.elapsed_ns = time.perf_counter_ns() - self.started
        headers = {"Content-Type": content_type(fmt) if fmt else "text/plain; charset=UTF-8"}
        if fmt:
            headers["X-ClickHouse-Format"] = fmt
        headers["X-ClickHouse-Query-Id"] = self.request.query_id
        headers["X-ClickHouse-Timezone"] = self.settings.get("session_timezone") or self.engine.timezone
        headers["X-ClickHouse-Summary"] = self.summary.header()
        return headers

    def _count(self, result: Any) -> None:
        self.summary.read_rows += result.storage_rows_read()
        self.summary.read_bytes += result.storage_bytes_read()
        self.summary.result_rows += result.rows_read()
        self.summary.result_bytes += result.bytes_read()
        self.summary.written_rows += result.rows_written()
        self.summary.written_bytes += result.bytes_written()

    def insert(self, statement: Statement) -> None:
        """Spool the data to a file and insert it with ``FROM INFILE``; answer once it is committed.

        Not chdb's streaming inserter: when the engine rejects a block after parsing it (a CHECK
        constraint, a throwing DEFAULT, too many partitions, a failed write), ``send_insert`` reports
        the rows as written and drops them. ``FROM INFILE`` runs the ordinary INSERT pipeline, which
        raises those errors; the spool (in /dev/shm where available) costs about a third more than
        streaming, measured on 1M rows.
        """
        assert statement.insert_format is not None and statement.data is not None
        with tempfile.NamedTemporaryFile(dir=SPOOL_DIR, prefix=spool_prefix(), suffix=".data") as spool:
            for chunk in statement.data:
                spool.write(chunk)
            spool.flush()
            result = self.handle.conn.query(infile_insert(statement.sql, spool.name, statement.insert_format), "CSV")
        self.summary.written_rows = result.rows_written()
        self.summary.written_bytes = result.bytes_written()
        self.out.send_whole(200, self.headers(None))

    def query(self, sql: str, kind: str) -> None:
        fmt = output_format(sql) or self.format
        mode = stream_mode(fmt) if kind == READ_ONLY else StreamMode.WHOLE
        stream = self._open_stream(sql, fmt) if mode is not StreamMode.WHOLE else None
        chunks = self._whole(sql, fmt) if stream is None else self._streamed(stream, sql, fmt, mode)
        try:
            self._send(chunks, fmt if kind == READ_ONLY else None, spool=stream is not None)
        finally:
            chunks.close()

    def _open_stream(self, sql: str, fmt: str) -> _Stream | None:
        try:
            return self.handle.conn.send_query(sql, fmt, params=self.request.params)
        except Exception as exc:
            # The engine streams SELECTs only; DESCRIBE, SHOW, EXPLAIN... are answered whole.
            if _STREAMING_UNSUPPORTED in str(exc):
                return None
            raise

    def _whole(self, sql: str, fmt: str) -> Generator[bytes | memoryview, None, None]:
        result = self.handle.conn.query(sql, fmt, params=self.request.params)
        self._count(result)
        view = result.get_memview().view() if result.size() else memoryview(b"")
        for offset in range(0, len(view), _WHOLE_SLICE):
            yield view[offset : offset + _WHOLE_SLICE]

    def _streamed(
        self, stream: _Stream, sql: str, fmt: str, mode: StreamMode
    ) -> Generator[bytes | memoryview, None, None]:
        joiner = ArrowStreamJoiner() if mode is StreamMode.ARROW_STREAM else None
        try:
            empty = True
            while (chunk := stream.fetch()) is not None:
                self._count(chunk)
                empty = False
                if joiner is None:
                    yield chunk.bytes()
                else:
                    yield from joiner.feed(chunk.bytes())
            if joiner is not None and empty:
                # An empty result streams no chunk at all, yet an Arrow stream needs its schema.
                yield self.handle.conn.query(sql, fmt, params=self.request.params).bytes()
            elif joiner is not None:
                yield joiner.finish()
        finally:
            try:
                stream.cancel()  # no-op once exhausted; stops the engine if the client went away
            except Exception:
                self.handle.broken = True

    def _send(self, chunks: Iterator[bytes | memoryview], fmt: str | None, spool: bool) -> None:
        """Hold back the first ``buffer_size`` bytes (all of them with wait_end_of_query, in memory
        and then a temporary file, as ClickHouse does) so that an error within them is still a proper
        HTTP error, then stream the rest. A result the engine produced whole needs no holding back."""
        request = self.request
        encoder = self._encoder()
        if request.wait_end_of_query and spool:
            with tempfile.SpooledTemporaryFile(max_size=max(request.buffer_size, _SPOOL_IN_MEMORY)) as spool_file:
                for chunk in chunks:
                    spool_file.write(chunk)
                spool_file.seek(0)
                self.out.start(self.headers(fmt), encoder)
                while piece := spool_file.read(_WHOLE_SLICE):
                    self.out.write(piece)
                self.out.finish()
            return
        held: list[bytes | memoryview] = []
        size = 0
        for chunk in chunks:
            held.append(chunk)
            size += len(chunk)
            if size >= request.buffer_size:
                break
        self.out.start(self.headers(fmt), encoder)
        for chunk in held:
            self.out.write(chunk)
        try:
            for chunk in chunks:
                self.out.write(chunk)
        except EndpointError as error:
            self.out.fail(error, self.engine.version)
            return
        except (ConnectionError, TimeoutError):
            raise
        except Exception as exc:
            self.out.fail(EndpointError.from_engine(exc), self.engine.version)
            return
        self.out.finish()

    def _encoder(self) -> Encoder | None:
        if self.settings.get("enable_http_compression", "0").strip().lower() not in ("1", "true"):
            return None
        try:
            level = int(self.settings.get("http_zlib_compression_level", "3"))
        except ValueError:
            level = 3
        return choose_encoder(self.accept_encoding, level)


def infile_insert(head: str, path: str, fmt: str) -> str:
    """``INSERT INTO t (cols) [SETTINGS ...]`` becomes ``INSERT INTO t (cols) FROM INFILE 'path'
    [SETTINGS ...] FORMAT fmt``: the grammar wants a SETTINGS clause after the file."""
    match = _INSERT_SETTINGS.search(head)
    settings = f" SETTINGS {match.group('settings')}" if match else ""
    target = head[: match.start()] if match else head
    quoted = path.replace("\\", "\\\\").replace("'", "\\'")
    return f"{target} FROM INFILE '{quoted}'{settings} FORMAT {fmt}"


def spool_prefix(pid: int | None = None) -> str:
    """Spool files are named by the endpoint's pid, so one endpoint's inserts in flight can be told apart."""
    return f"retail-endpoint-{os.getpid() if pid is None else pid}-insert-"
