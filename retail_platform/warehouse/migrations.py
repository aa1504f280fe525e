"""Numbered SQL migrations for the warehouse, recorded in ``{database}.schema_migrations``.

Layout (dbmate style): ``sql/NNNN_name.sql``, numbered from 0001 without gaps, each holding a
``-- migrate:up`` section and a ``-- migrate:down`` section. A statement ends at a line whose last
character is ``;`` (comment lines excepted); nothing else about the SQL is parsed, so a statement may
span lines but must not put anything after its closing ``;``. ``{database}`` in the SQL is replaced by
the target database (settings: ``clickhouse_database``), which lets tests migrate a scratch database.

The bookkeeping table is created by migration 0001 itself (see sql/0001_create_database.sql): no
table means nothing is applied. A migration is recorded only after all its up statements succeed, and
its record is removed only after all its down statements succeed. ClickHouse DDL is not transactional,
so migrations use ``IF [NOT] EXISTS`` everywhere and a half-applied migration is completed by running
it again. Applied files are immutable: a changed checksum, a missing file or a pending migration older
than an applied one stops every command until a human fixes it.

A migration that moves data (a statement that inserts, deletes, updates or materialises rows, as
0014's backfill of the aggregates) is marked as such by what it does, not by a comment that could go
stale: ``Migration.moves_data``, shown by ``status`` and logged when it runs, because such a step takes
time in proportion to the data and its down step cannot bring the moved rows back by itself.

A migration whose header has the line ``-- requires: sql-access-control`` (users, roles, settings
profiles, row policies) runs only on a server with writable access storage (compose/cluster): on the
embedded engine, which has none, it is recorded without running its statements, so the numbering stays
the same on every profile. Such a migration may also use ``{bi_user}`` and ``{bi_password}`` (the
read-only account from the settings; the password as a quoted literal), so no secret is in a file.

CLI: ``python -m retail_platform.warehouse.migrations [status|up|down --to N|dump-schema [--check]]``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import Error as DriverError

from retail_platform.settings import REPO_ROOT, get_settings

log = logging.getLogger(__name__)

MIGRATIONS_DIR = REPO_ROOT / "sql"
SCHEMA_FILE = MIGRATIONS_DIR / "schema.sql"
BOOKKEEPING_TABLE = "schema_migrations"
PLACEHOLDER = "{database}"
UP_MARKER = "-- migrate:up"
DOWN_MARKER = "-- migrate:down"
ACCESS_CONTROL_MARKER = "-- requires: sql-access-control"
# Access storages that accept CREATE USER/ROLE/ROW POLICY (system.user_directories.type).
_WRITABLE_ACCESS_STORAGES = ("local_directory", "replicated")

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOOKS_NUMBERED = re.compile(r"^\d+[_-]")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DROPS_DATABASE = re.compile(r"\bDROP\s+DATABASE\b", re.IGNORECASE)
_MOVES_DATA = re.compile(
    r"^(INSERT\s+INTO|DELETE\s+FROM|TRUNCATE|ALTER\s+TABLE\s+\S+\s+(UPDATE|DELETE|MATERIALIZE)\b)", re.IGNORECASE
)


class MigrationError(RuntimeError):
    """The migrations or the warehouse's record of them are inconsistent; the message says how to fix it."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str
    up: tuple[str, ...]
    down: tuple[str, ...]
    needs_access_control: bool = False

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def moves_data(self) -> bool:
        """Whether a step inserts, deletes, updates or materialises rows (not only DDL)."""
        return any(moves_data(statement) for statement in self.up + self.down)

    def statements(self, direction: str, database: str) -> list[str]:
        """The statements of one direction ("up" or "down") with ``{database}`` substituted (and, for an
        access-control migration, ``{bi_user}``/``{bi_password}`` from the settings)."""
        chosen = self.up if direction == "up" else self.down
        rendered = [render(statement, database) for statement in chosen]
        if not self.needs_access_control:
            return rendered
        settings = get_settings()
        user = _check_identifier(settings.clickhouse_bi_user, "RETAIL_CLICKHOUSE_BI_USER")
        password = _quote(settings.clickhouse_bi_password)
        return [r.replace("{bi_user}", user).replace("{bi_password}", password) for r in rendered]


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime | None = None


@dataclass(frozen=True)
class MigrationStatus:
    version: int
    name: str
    state: str  # applied | pending | changed (file edited after applying) | missing (file deleted)
    applied_at: datetime | None = None
    moves_data: bool = False


# ---------------------------------------------------------------------------------------------
# Files: pure functions, no warehouse needed (unit-tested in tests/unit/test_migrations_files.py).


def checksum(text: str) -> str:
    """sha256 of a migration's text; line endings are normalised so a CRLF checkout is not a change."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("--")


def split_statements(sql: str) -> list[str]:
    """Split a section on statement-ending ``;`` (the last character of a non-comment line).

    The ``;`` itself is dropped; comment-only chunks are discarded.
    """
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        current.append(line)
        if _is_code(line) and line.rstrip().endswith(";"):
            text = "\n".join(current).strip()
            statements.append(text[:-1].rstrip())
            current = []
    if any(_is_code(line) for line in current):
        tail = "\n".join(current).strip()
        raise MigrationError(f"statement without a closing ';' at the end of a line: {tail[:80]!r}")
    return statements


def split_sections(text: str, source: str = "<sql>") -> tuple[str, str]:
    """The up and down sections of a migration file."""
    lines = text.splitlines()
    ups = [i for i, line in enumerate(lines) if line.strip() == UP_MARKER]
    downs = [i for i, line in enumerate(lines) if line.strip() == DOWN_MARKER]
    if len(ups) != 1 or len(downs) != 1:
        raise MigrationError(
            f"{source}: expected exactly one '{UP_MARKER}' line and one '{DOWN_MARKER}' line, "
            f"found {len(ups)} and {len(downs)}"
        )
    up_at, down_at = ups[0], downs[0]
    if down_at < up_at:
        raise MigrationError(f"{source}: '{DOWN_MARKER}' must come after '{UP_MARKER}'")
    if any(_is_code(line) for line in lines[:up_at]):
        raise MigrationError(f"{source}: SQL before '{UP_MARKER}' would never run; move it into a section")
    return "\n".join(lines[up_at + 1 : down_at]), "\n".join(lines[down_at + 1 :])


def moves_data(statement: str) -> bool:
    """Whether a statement writes rows; its leading comment lines are not part of it."""
    lines = statement.strip().splitlines()
    while lines and lines[0].strip().startswith("--"):
        lines.pop(0)
    return bool(_MOVES_DATA.match("\n".join(lines).strip()))


def parse_migration(path: Path) -> Migration:
    match = _FILE_NAME.match(path.name)
    if not match:
        raise MigrationError(
            f"{path.name}: migration files are named NNNN_lowercase_name.sql (e.g. 0004_rt_tables.sql)"
        )
    text = path.read_text(encoding="utf-8")
    up_sql, down_sql = split_sections(text, path.name)
    try:
        up, down = split_statements(up_sql), split_statements(down_sql)
    except MigrationError as exc:
        raise MigrationError(f"{path.name}: {exc}") from None
    if not up:
        raise MigrationError(f"{path.name}: the up section has no statements")
    if not down:
        raise MigrationError(f"{path.name}: the down section has no statements; every migration must be reversible")
    header = text.split(UP_MARKER, 1)[0]
    needs_access = any(line.strip() == ACCESS_CONTROL_MARKER for line in header.splitlines())
    return Migration(int(match.group(1)), match.group(2), path, checksum(text), tuple(up), tuple(down), needs_access)


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration in ``directory``, ordered; refuses duplicates, gaps and misnamed files."""
    candidates = sorted(p for p in directory.iterdir() if p.is_file() and _LOOKS_NUMBERED.match(p.name))
    migrations = [parse_migration(path) for path in candidates]
    by_version: dict[int, list[Migration]] = {}
    for migration in migrations:
        by_version.setdefault(migration.version, []).append(migration)
    duplicates = {v: [m.path.name for m in ms] for v, ms in by_version.items() if len(ms) > 1}
    if duplicates:
        listed = "; ".join(", ".join(names) for names in duplicates.values())
        raise MigrationError(f"duplicate migration numbers: {listed}; give each file its own number")
    expected = list(range(1, len(migrations) + 1))
    found = sorted(by_version)
    if found != expected:
        missing = sorted(set(range(1, max(found, default=0) + 1)) - set(found))
        raise MigrationError(
            f"migration numbers must run 0001, 0002, ... without gaps; missing {', '.join(f'{v:04d}' for v in missing)}"
        )
    return sorted(migrations, key=lambda m: m.version)


def render(sql: str, database: str) -> str:
    """Substitute the database name; only ``{database}`` is replaced (other braces are ClickHouse syntax)."""
    return sql.replace(PLACEHOLDER, _check_identifier(database))


def _check_identifier(database: str, what: str = "database name") -> str:
    if not _IDENTIFIER.match(database):
        raise MigrationError(f"{what} {database!r} must be a plain identifier (letters, digits, underscore)")
    return database


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def has_sql_access_control(client: Client) -> bool:
    """Whether the warehouse accepts CREATE USER/ROLE/ROW POLICY (a server with a writable access
    storage); the embedded engine has only its read-only users.xml storage."""
    rows = client.query("SELECT type FROM system.user_directories").result_rows
    return any(str(row[0]) in _WRITABLE_ACCESS_STORAGES for row in rows)


# ---------------------------------------------------------------------------------------------
# Files against the warehouse's record: pure functions too.


def verify(migrations: Sequence[Migration], applied: Sequence[AppliedMigration]) -> None:
    """Refuse to go on when the record and the files disagree."""
    files = {m.version: m for m in migrations}
    problems: list[str] = []
    for record in applied:
        migration = files.get(record.version)
        label = f"{record.version:04d}_{record.name}"
        if migration is None:
            problems.append(
                f"{label} is applied but sql/{label}.sql is missing; restore the file (it is needed to roll back)"
            )
        elif migration.checksum != record.checksum or migration.name != record.name:
            problems.append(
                f"{migration.path.name} changed after it was applied as {label} (checksum {record.checksum[:12]}, "
                f"file now {migration.checksum[:12]}); restore the applied version, put the change in a new migration"
            )
    applied_versions = {r.version for r in applied}
    if applied_versions:
        newest = max(applied_versions)
        for migration in migrations:
            if migration.version < newest and migration.version not in applied_versions:
                problems.append(
                    f"{migration.path.name} is pending but {newest:04d} is already applied; "
                    f"migrations apply in order, so renumber it after the newest file"
                )
    if problems:
        raise MigrationError("migrations do not match the warehouse:\n  " + "\n  ".join(problems))


def status_of(migrations: Sequence[Migration], applied: Sequence[AppliedMigration]) -> list[MigrationStatus]:
    records = {r.version: r for r in applied}
    rows: list[MigrationStatus] = []
    for migration in migrations:
        record = records.pop(migration.version, None)
        if record is None:
            rows.append(MigrationStatus(migration.version, migration.name, "pending", None, migration.moves_data))
        else:
            same = record.checksum == migration.checksum and record.name == migration.name
            state = "applied" if same else "changed"
            rows.append(
                MigrationStatus(migration.version, migration.name, state, record.applied_at, migration.moves_data)
            )
    rows += [MigrationStatus(r.version, r.name, "missing", r.applied_at) for r in records.values()]
    return sorted(rows, key=lambda row: row.version)


# ---------------------------------------------------------------------------------------------
# The warehouse side.


@contextmanager
def _client(client: Client | None) -> Iterator[Client]:
    if client is not None:
        yield client
        return
    from retail_platform.warehouse.client import connect

    # No default database: the target may not exist yet, and every statement names it explicitly.
    owned = connect(database="")
    try:
        yield owned
    finally:
        owned.close()


def _database(database: str | None) -> str:
    return _check_identifier(get_settings().clickhouse_database if database is None else database)


def _table_exists(client: Client, database: str, table: str) -> bool:
    result = client.query(
        "SELECT count() FROM system.tables WHERE database = %(db)s AND name = %(table)s",
        parameters={"db": database, "table": table},
    )
    return bool(result.result_rows[0][0])


def applied_migrations(client: Client, database: str) -> list[AppliedMigration]:
    """The warehouse's record; empty when the bookkeeping table does not exist (nothing applied)."""
    if not _table_exists(client, database, BOOKKEEPING_TABLE):
        return []
    rows = client.query(
        f"SELECT version, name, checksum, applied_at FROM {database}.{BOOKKEEPING_TABLE} FINAL ORDER BY version"
    ).result_rows
    return [AppliedMigration(int(v), str(n), str(c), at) for v, n, c, at in rows]


def _run(client: Client, migration: Migration, direction: str, database: str) -> None:
    if migration.needs_access_control and not has_sql_access_control(client):
        log.info("%s needs SQL access control, which this warehouse lacks: recorded, not run", migration.label)
        return
    for statement in migration.statements(direction, database):
        try:
            client.command(statement)
        except Exception as exc:
            first_line = statement.strip().splitlines()[0] if statement.strip() else ""
            raise MigrationError(
                f"{migration.path.name} ({direction}) failed at {first_line!r}: {exc}\n"
                f"Its record is unchanged; fix the cause and run the command again (statements are idempotent)."
            ) from exc


def _record(client: Client, migration: Migration, database: str) -> None:
    client.insert(
        BOOKKEEPING_TABLE,
        [[migration.version, migration.name, migration.checksum]],
        column_names=["version", "name", "checksum"],
        # Known types: no DESCRIBE round trip before the insert.
        column_type_names=["UInt32", "String", "String"],
        database=database,
    )


def _forget(client: Client, migration: Migration, database: str) -> None:
    # Rolling back 0001 drops the bookkeeping table itself; then there is nothing to forget.
    if _table_exists(client, database, BOOKKEEPING_TABLE):
        client.command(f"DELETE FROM {database}.{BOOKKEEPING_TABLE} WHERE version = {int(migration.version)}")


def _refuse_foreign_tables(client: Client, migration: Migration, database: str) -> None:
    """Before a down that drops the database, make sure it holds nothing the migrations did not create."""
    if not any(_DROPS_DATABASE.search(s) for s in migration.down):
        return
    rows = client.query(
        "SELECT name FROM system.tables WHERE database = %(db)s AND name != %(table)s ORDER BY name",
        parameters={"db": database, "table": BOOKKEEPING_TABLE},
    ).result_rows
    if rows:
        names = ", ".join(str(r[0]) for r in rows)
        raise MigrationError(
            f"rolling back {migration.label} would drop database {database}, which still holds tables no migration "
            f"manages: {names}; drop or move them first"
        )


def _checked(client: Client, database: str, directory: Path) -> tuple[list[Migration], list[AppliedMigration]]:
    migrations = load_migrations(directory)
    applied = applied_migrations(client, database)
    verify(migrations, applied)
    return migrations, applied


def pending(
    client: Client | None = None, *, database: str | None = None, directory: Path = MIGRATIONS_DIR
) -> list[Migration]:
    """Migrations not applied yet, in the order they would run."""
    db = _database(database)
    with _client(client) as c:
        migrations, applied = _checked(c, db, directory)
    done = {r.version for r in applied}
    return [m for m in migrations if m.version not in done]


def status(
    client: Client | None = None, *, database: str | None = None, directory: Path = MIGRATIONS_DIR
) -> list[MigrationStatus]:
    """Every migration with its state; reports (rather than refuses) changed and missing files."""
    db = _database(database)
    with _client(client) as c:
        return status_of(load_migrations(directory), applied_migrations(c, db))


def apply_all(
    client: Client | None = None, *, database: str | None = None, directory: Path = MIGRATIONS_DIR
) -> list[Migration]:
    """Apply every pending migration in order; returns what was applied (empty when up to date)."""
    db = _database(database)
    done: list[Migration] = []
    with _client(client) as c:
        migrations, applied = _checked(c, db, directory)
        versions = {r.version for r in applied}
        for migration in migrations:
            if migration.version in versions:
                continue
            started = time.monotonic()
            _run(c, migration, "up", db)
            _record(c, migration, db)
            log.info(
                "applied %s to %s in %.2f s%s",
                migration.label,
                db,
                time.monotonic() - started,
                " (moved data)" if migration.moves_data else "",
            )
            done.append(migration)
    return done


def rollback(
    to_version: int, client: Client | None = None, *, database: str | None = None, directory: Path = MIGRATIONS_DIR
) -> list[Migration]:
    """Reverse applied migrations newer than ``to_version``, newest first; 0 reverses everything."""
    db = _database(database)
    done: list[Migration] = []
    with _client(client) as c:
        migrations, applied = _checked(c, db, directory)
        if not 0 <= to_version <= len(migrations):
            raise MigrationError(f"cannot roll back to {to_version}: choose 0..{len(migrations)} (0 = everything)")
        versions = {r.version for r in applied}
        for migration in reversed(migrations):
            if migration.version <= to_version or migration.version not in versions:
                continue
            _refuse_foreign_tables(c, migration, db)
            started = time.monotonic()
            _run(c, migration, "down", db)
            _forget(c, migration, db)
            log.info("rolled back %s from %s in %.2f s", migration.label, db, time.monotonic() - started)
            done.append(migration)
    return done


def rollback_all(
    client: Client | None = None, *, database: str | None = None, directory: Path = MIGRATIONS_DIR
) -> list[Migration]:
    return rollback(0, client, database=database, directory=directory)


# ---------------------------------------------------------------------------------------------
# schema.sql: the schema the migrations produce, in one reviewable file.


def dump_schema(client: Client, database: str) -> str:
    """SHOW CREATE of the database and each of its objects, by name, with the database name as ``{database}``."""
    _check_identifier(database)
    # Inner tables of materialized views are implementation details of their view's CREATE.
    objects = client.query(
        "SELECT name, engine FROM system.tables WHERE database = %(db)s AND NOT is_temporary "
        "AND NOT startsWith(name, '.inner') ORDER BY name",
        parameters={"db": database},
    ).result_rows
    creates = [str(client.query(f"SHOW CREATE DATABASE {database}").result_rows[0][0])]
    # SHOW CREATE TABLE also answers for views and dictionaries.
    creates += [str(client.query(f"SHOW CREATE TABLE {database}.{name}").result_rows[0][0]) for name, _ in objects]
    applied = applied_migrations(client, database)
    latest = f"{applied[-1].version:04d}_{applied[-1].name}" if applied else "none"
    header = [
        "-- The warehouse schema produced by applying every migration in sql/ (SHOW CREATE output).",
        "-- Generated by `python -m retail_platform.warehouse.migrations dump-schema`; do not edit by hand:",
        "-- change the schema with a new migration, then regenerate this file.",
        f"-- {PLACEHOLDER} stands for the configured database (RETAIL_CLICKHOUSE_DATABASE, default retail).",
        f"-- Schema version: {latest}",
    ]
    body = [_normalise(create, database) + ";" for create in creates]
    return "\n".join(header) + "\n\n" + "\n\n".join(body) + "\n"


def _normalise(create: str, database: str) -> str:
    name = re.escape(database)
    # Qualified names (db.table, `db`.table) and quoted references such as a dictionary's DB 'db'.
    text = re.sub(rf"(?<![\w`]){name}(?=\.)|`{name}`(?=\.)|(?<=')({name})(?=')", PLACEHOLDER, create.strip())
    text = re.sub(rf"^CREATE DATABASE (?:{name}|`{name}`)(?=\s)", f"CREATE DATABASE {PLACEHOLDER}", text)
    return "\n".join(line.rstrip() for line in text.splitlines())


def generate_schema(client: Client | None = None, *, directory: Path = MIGRATIONS_DIR) -> str:
    """Migrate a scratch database, dump it and remove it again (which also exercises every down)."""
    scratch = f"{get_settings().clickhouse_database}_schema_dump_{os.getpid()}"
    with _client(client) as c:
        try:
            apply_all(c, database=scratch, directory=directory)
            schema = dump_schema(c, scratch)
            rollback_all(c, database=scratch, directory=directory)
            return schema
        finally:
            # Also after a failure half-way, so no scratch database is left behind.
            c.command(f"DROP DATABASE IF EXISTS {scratch} SYNC")


# ---------------------------------------------------------------------------------------------
# CLI


def _print_status(rows: Sequence[MigrationStatus]) -> None:
    for row in rows:
        when = row.applied_at.strftime("%Y-%m-%d %H:%M:%S") if row.applied_at else ""
        moves = "moves data" if row.moves_data else ""
        print(f"{row.version:04d}  {row.name:<32} {row.state:<8} {when:<19} {moves}".rstrip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retail_platform.warehouse.migrations", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database", help="target database (default: RETAIL_CLICKHOUSE_DATABASE)")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("status", help="list migrations and whether each is applied (default)")
    commands.add_parser("up", help="apply every pending migration")
    down = commands.add_parser("down", help="roll back migrations newer than --to")
    down.add_argument("--to", type=int, required=True, metavar="N", help="version to keep (0 = roll back everything)")
    dump = commands.add_parser("dump-schema", help=f"regenerate {SCHEMA_FILE.relative_to(REPO_ROOT)}")
    dump.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when it differs")
    dump.add_argument("--output", type=Path, default=SCHEMA_FILE)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    try:
        if args.command in (None, "status"):
            rows = status(database=args.database)
            _print_status(rows)
            return 1 if any(row.state in ("changed", "missing") for row in rows) else 0
        if args.command == "up":
            applied = apply_all(database=args.database)
            print(f"applied {len(applied)} migration(s)" if applied else "up to date")
            return 0
        if args.command == "down":
            reversed_ = rollback(args.to, database=args.database)
            print(f"rolled back {len(reversed_)} migration(s)" if reversed_ else "nothing to roll back")
            return 0
        schema = generate_schema()
        if args.check:
            current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
            if current != schema:
                print(f"{args.output} is out of date; run dump-schema without --check", file=sys.stderr)
                return 1
            print(f"{args.output} is up to date")
            return 0
        args.output.write_text(schema, encoding="utf-8")
        print(f"wrote {args.output}")
        return 0
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DriverError as exc:
        url = get_settings().clickhouse_url
        print(f"error: the warehouse at {url} failed or is unreachable (is it running?): {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
