"""The landing zone's files and the loop every source kind runs over them.

``landing/<kind>/`` holds the files of one kind (sub-folders included). Names starting with ``_`` or
``.`` (manifests, files being written) and column mappings are not data. Each data file is identified
by its content (sha256): content already loaded is skipped and reported as such; a changed file with
the same name has a new hash and is loaded again.

``ingest`` runs a kind's handler per file and records the verdict in ops_source_loads. A file whose
content or mapping is unusable fails on its own (status failed, the message says why) and the others
still load; any other error (the warehouse or Spark went away) is recorded as failed too and then
raised, so the task fails and its retry processes the file again (every write is idempotent).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from clickhouse_connect.driver.client import Client

from retail_platform.settings import Settings
from retail_platform.sources import report
from retail_platform.sources.mapping import MappingError, is_mapping_file
from retail_platform.sources.readers import FileFormatError
from retail_platform.sources.report import FileLoad, Reject

log = logging.getLogger(__name__)


class SourceError(ValueError):
    """A file's content cannot be loaded as a whole (e.g. a legacy database without its tables)."""


# (path, the load being filled in) -> rejected rows; sets rows_read/rows_loaded/details on the load.
Handler = Callable[[Path, FileLoad], Sequence[Reject]]
FILE_ERRORS = (MappingError, FileFormatError, SourceError)


def landing_dir(settings: Settings, kind: str) -> Path:
    """The local folder holding ``lake.uri(settings, "landing", kind)``: the lake's own on a file://
    lake; on S3 a copy fetched now into the state folder (the readers take files: Excel, SQLite)."""
    if settings.lake_is_local:
        return settings.lake_path / "landing" / kind
    from retail_platform import lake_store

    return lake_store.fetch(
        settings, lake_store.key(settings, "landing", kind), settings.state_dir / "landing-cache" / kind
    )


def data_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(("_", ".")) for part in relative.parts):
            continue
        if is_mapping_file(path):
            continue
        files.append(path)
    return files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ingest(client: Client, database: str, folder: Path, kind: str, run_id: str, handler: Handler) -> list[FileLoad]:
    loads = []
    for path in data_files(folder):
        load = FileLoad(run_id, kind, str(path.relative_to(folder)), path.stat().st_size, sha256_of(path))
        loads.append(load)
        if report.loaded_before(client, database, kind, load.sha256):
            load.status, load.message = report.SKIPPED, f"content already loaded (sha256 {load.sha256[:12]})"
            report.record_loads(client, database, [load.finish()])
            continue
        try:
            rejects = handler(path, load)
            load.rows_quarantined = report.record_rejects(client, database, load, rejects)
            load.check()
        except FILE_ERRORS as exc:
            load.status, load.message = report.FAILED, str(exc)
            log.warning("%s/%s failed: %s", kind, load.file, exc)
        except Exception as exc:
            load.status, load.message = report.FAILED, f"{type(exc).__name__}: {exc}"
            report.record_loads(client, database, [load.finish()])
            raise
        report.record_loads(client, database, [load.finish()])
    return loads
