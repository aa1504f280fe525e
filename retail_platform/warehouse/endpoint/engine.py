"""The embedded engine: one chdb instance per process, reached through cheap connection handles.

Each handle is an engine session with its own current database and settings. Requests do not own
handles, so a handle remembers which settings it currently has and a request's settings (its
session's SET values plus its URL settings) are applied as one SET of the differences.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

from chdb.state.sqlitelike import Connection
from chdb.state.sqlitelike import connect as chdb_connect

from retail_platform.warehouse.endpoint.errors import EndpointError
from retail_platform.warehouse.endpoint.outside import outside_functions

# MergeTree parts are fsynced before an insert returns, so an acknowledged insert survives a crash
# of the machine, not only of the process.
SERVER_CONFIG = """<clickhouse>
    <merge_tree>
        <fsync_after_insert>1</fsync_after_insert>
        <fsync_part_directory>1</fsync_part_directory>
    </merge_tree>
</clickhouse>
"""
# chdb defaults to asynchronous inserts; a ClickHouse server does not, and clients expect that.
SESSION_DEFAULTS = {"async_insert": "0"}


def connection_string(data_dir: Path, config_file: Path) -> str:
    """How every handle opens the engine (the first one starts it with this configuration)."""
    options = {"config-file": str(config_file), **SESSION_DEFAULTS}
    return f"{data_dir}?" + "&".join(f"{k}={v}" for k, v in options.items())


_SETTING_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
# Changed settings that describe the handle rather than a client's choice.
_NOT_SETTINGS = frozenset({"database"})

READ_ONLY = "READ_ONLY"
CONTROL = "CONTROL"


class DataDirLocked(RuntimeError):
    """Another process holds the data directory."""


class EngineStartError(RuntimeError):
    """The engine could not open the data directory."""


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def check_setting_name(name: str) -> None:
    if not _SETTING_NAME_RE.match(name):
        raise EndpointError.of("UNKNOWN_SETTING", f"Unknown setting '{name}'")


class Handle:
    """One engine session, with the settings and database it currently has."""

    def __init__(self, conn: Connection, baseline: Mapping[str, str], database: str) -> None:
        self.conn = conn
        self.baseline = dict(baseline)
        self.settings = dict(baseline)
        self.database = database
        self.broken = False

    def prepare(self, database: str, settings: Mapping[str, str]) -> None:
        """Make the handle's settings exactly the baseline plus ``settings``, and select ``database``."""
        target = {**self.baseline, **settings}
        assignments = [f"{k} = {quote(v)}" for k, v in target.items() if self.settings.get(k) != v]
        assignments += [f"{k} = DEFAULT" for k in self.settings if k not in target]
        try:
            if assignments:
                for name in target:
                    check_setting_name(name)
                self.conn.query("SET " + ", ".join(assignments), "TSV")
                self.settings = target
            if database != self.database:
                self.conn.query("USE {db:Identifier}", "TSV", params={"db": database})
                self.database = database
        except EndpointError:
            self.broken = True
            raise
        except Exception as exc:
            self.broken = True  # a failed SET may have applied part of its list
            raise EndpointError.from_engine(exc) from exc

    def changed_settings(self) -> dict[str, str]:
        """Settings that differ from the engine defaults, read back from the engine."""
        result = self.conn.query("SELECT name, value FROM system.settings WHERE changed", "TSVRaw")
        rows = (line.split("\t", 1) for line in result.bytes().decode().splitlines() if "\t" in line)
        return {name: value for name, value in rows if name not in _NOT_SETTINGS}

    def canonical(self, sql: str) -> str:
        """The statement as the engine's parser re-prints it (one line, no comments)."""
        # A quoted literal, not a query parameter: parameter values are parsed as escaped text.
        text: bytes = self.conn.query(f"SELECT formatQuerySingleLine({quote(sql)})", "TSVRaw").bytes()
        return text.decode()

    def current_database(self) -> str:
        name: bytes = self.conn.query("SELECT currentDatabase()", "TSVRaw").bytes()
        return name.decode().strip()

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:  # closing a handle whose engine session already failed
            pass


def _check_data_dir_free(data_dir: Path) -> None:
    """Fail with the holder's identity if another process runs an engine on this directory.

    The engine itself only reports a generic initialisation error in that case; it locks the
    ``status`` file, so probing that lock (and releasing it at once) gives a precise message.
    """
    status = data_dir / "status"
    if not status.exists():
        return
    with open(status, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read(200).decode(errors="replace").splitlines()
            pid = next((line.split(":", 1)[1].strip() for line in holder if line.startswith("PID:")), "unknown")
            raise DataDirLocked(
                f"data directory {data_dir} is locked by another process (pid {pid}); "
                "stop that process or choose another --data-dir"
            ) from None
        fcntl.flock(handle, fcntl.LOCK_UN)


class Engine:
    """The process's engine instance: opens the data directory and hands out handles."""

    def __init__(self, data_dir: Path) -> None:
        if any(ch in str(data_dir) for ch in "?&=%#"):
            raise EngineStartError(f"data directory {data_dir}: the path must not contain any of ?&=%#")
        data_dir.mkdir(parents=True, exist_ok=True)
        _check_data_dir_free(data_dir)
        self._config_dir = Path(tempfile.mkdtemp(prefix="warehouse-endpoint-"))
        (self._config_dir / "config.xml").write_text(SERVER_CONFIG)
        self._conn_str = connection_string(data_dir, self._config_dir / "config.xml")
        try:
            anchor = chdb_connect(self._conn_str)
        except Exception as exc:
            shutil.rmtree(self._config_dir, ignore_errors=True)
            _check_data_dir_free(data_dir)
            raise EngineStartError(f"cannot open data directory {data_dir}: {exc}") from exc
        # The anchor keeps the engine alive (it stops when its last handle closes) and classifies
        # statements; classification does not depend on a handle's state, so one shared handle does.
        self._anchor = Handle(anchor, {}, "default")
        self._anchor_lock = threading.Lock()
        self.baseline = self._anchor.changed_settings()
        self._anchor.baseline = dict(self.baseline)
        self._anchor.settings = dict(self.baseline)
        row = anchor.query("SELECT version(), timezone()", "TSVRaw").bytes().decode().strip().split("\t")
        self.version, self.timezone = row[0], row[1]
        self.outside_functions = outside_functions(
            self._names("SELECT name FROM system.table_functions WHERE NOT allow_readonly"),
            self._names("SELECT name FROM system.functions"),
        )

    def _names(self, sql: str) -> list[str]:
        text: bytes = self._anchor.conn.query(sql, "TSVRaw").bytes()
        return text.decode().split()

    def new_handle(self) -> Handle:
        try:
            return Handle(chdb_connect(self._conn_str), self.baseline, "default")
        except Exception as exc:
            raise EndpointError.from_engine(exc) from exc

    def classify(self, sql: str) -> str:
        """READ_ONLY, MUTATING, MUTATING_GLOBAL, CONTROL or UNKNOWN, as the engine's parser decides."""
        with self._anchor_lock:
            report = self._anchor.conn._conn.classify_query(sql)
        kind = report["query_class"]
        return getattr(kind, "name", str(kind))

    def close(self) -> None:
        self._anchor.close()
        shutil.rmtree(self._config_dir, ignore_errors=True)
