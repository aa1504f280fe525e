"""Structural invariants of the migrations in sql/ and the migrator's pure logic (no warehouse)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from retail_platform.warehouse import migrations as m
from retail_platform.warehouse.migrations import AppliedMigration, MigrationError

MIGRATIONS = m.load_migrations()

_CREATE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(MATERIALIZED\s+VIEW|TABLE|DATABASE|VIEW|DICTIONARY|FUNCTION)\s+"
    r"(IF\s+NOT\s+EXISTS\s+)?(\S+)",
    re.IGNORECASE | re.MULTILINE,
)
_DROP = re.compile(
    r"^\s*DROP\s+(TABLE|DATABASE|VIEW|DICTIONARY|FUNCTION)\s+(IF\s+EXISTS\s+)?(\S+)", re.IGNORECASE | re.MULTILINE
)
_ENGINE = re.compile(r"^ENGINE\s*=\s*(\w+)", re.MULTILINE)
# A column line inside CREATE TABLE (...): four-space indent, name, type.
_COLUMN = re.compile(r"^ {4}(\w+) ((?:\w+\([^)]*\)\)?|\w+))", re.MULTILINE)
_MONEY = re.compile(r"^(\w+_)?(revenue|cost|profit|price|discount|amount|stock_value)$")
_TIME = re.compile(r"^(\w+_(time|at)|valid_from|valid_to)$")


def _kind(raw: str) -> str:
    # Materialized views are dropped with DROP VIEW.
    return "VIEW" if raw.upper().startswith("MATERIALIZED") else raw.upper()


def _creates(statements: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(_kind(k), name) for s in statements for k, _, name in _CREATE.findall(s)]


def _drops(statements: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(_kind(k), name) for s in statements for k, _, name in _DROP.findall(s)]


_ROW_POLICY = re.compile(r"^\s*CREATE ROW POLICY IF NOT EXISTS ", re.IGNORECASE)
_ADD_COLUMN = re.compile(r"ALTER TABLE (\S+) ADD COLUMN IF NOT EXISTS (\w+)", re.IGNORECASE)
_DROP_COLUMN = re.compile(r"ALTER TABLE (\S+) DROP COLUMN IF EXISTS (\w+)", re.IGNORECASE)


def _create_tables() -> list[tuple[m.Migration, str, str]]:
    """(migration, table name, statement) for every CREATE TABLE in an up section."""
    found = []
    for migration in MIGRATIONS:
        for statement in migration.up:
            for kind, name in _creates((statement,)):
                if kind == "TABLE":
                    found.append((migration, name, statement))
    return found


def _write(directory: Path, name: str, up: str = "SELECT 1;", down: str = "SELECT 2;") -> Path:
    path = directory / name
    path.write_text(f"-- header\n-- migrate:up\n{up}\n\n-- migrate:down\n{down}\n", encoding="utf-8")
    return path


# --- the real migrations ------------------------------------------------------------------------


def test_files_parse_into_up_and_down():
    assert MIGRATIONS, "sql/ holds no migrations"
    for migration in MIGRATIONS:
        assert migration.up and migration.down, migration.label
        assert all(not s.rstrip().endswith(";") for s in migration.up + migration.down)


def test_numbering_runs_from_one_without_gaps_or_duplicates():
    assert [mig.version for mig in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert MIGRATIONS[0].label == "0001_create_database"


def test_only_sql_files_in_the_migrations_folder():
    # Migrations are plain SQL: nothing in sql/ may be Python or import live DDL helpers.
    for path in m.MIGRATIONS_DIR.iterdir():
        assert path.suffix == ".sql", f"{path.name}: only .sql files belong in sql/"


def test_every_create_in_up_has_a_matching_drop_in_down_in_reverse_order():
    earlier: set[tuple[str, str]] = set()
    for migration in MIGRATIONS:
        created = _creates(migration.up)
        added = [c for st in migration.up for c in _ADD_COLUMN.findall(st)]
        policies = [st for st in migration.up if _ROW_POLICY.match(st)]
        assert created or added or policies, f"{migration.label}: neither a CREATE nor an added column in up"
        dropped_columns = [c for st in migration.down for c in _DROP_COLUMN.findall(st)]
        assert dropped_columns == list(reversed(added)), f"{migration.label}: down must drop the columns up adds"
        # An object an earlier migration created and this one replaces (CREATE OR REPLACE) is not
        # dropped on the way down but put back as it was: down re-creates it.
        replaced = [c for c in created if c in earlier]
        new = [c for c in created if c not in earlier]
        dropped = _drops(migration.down)
        assert dropped == list(reversed(new)), f"{migration.label}: down must drop what up creates, newest first"
        restored = set(_creates(migration.down))
        assert restored == set(replaced), f"{migration.label}: down must restore exactly the objects up replaced"
        earlier.update(created)


def test_ddl_is_idempotent_and_targets_the_database_placeholder():
    for migration in MIGRATIONS:
        for statement in migration.up:
            for kind, if_not_exists, name in _CREATE.findall(statement):
                replace = re.search(
                    r"^\s*CREATE\s+OR\s+REPLACE\s+[\w\s]*?" + re.escape(name), statement, re.IGNORECASE | re.MULTILINE
                )
                assert if_not_exists or replace, f"{migration.label}: CREATE {name} needs IF NOT EXISTS"
                expected = m.PLACEHOLDER if kind.upper() == "DATABASE" else m.PLACEHOLDER + "."
                assert name.startswith(expected), f"{migration.label}: {name} must be qualified with {expected}"
        for statement in migration.down:
            for _, if_exists, name in _DROP.findall(statement):
                assert if_exists, f"{migration.label}: DROP {name} needs IF EXISTS"
                assert name.startswith(m.PLACEHOLDER), f"{migration.label}: {name} must use {m.PLACEHOLDER}"


def test_every_mergetree_table_declares_order_by_and_partition_by():
    for migration, name, statement in _create_tables():
        engine = _ENGINE.search(statement)
        assert engine, f"{migration.label}: {name} has no ENGINE"
        assert engine.group(1) not in ("Memory", "Log", "TinyLog", "StripeLog"), f"{name}: data would not be durable"
        if engine.group(1).endswith("MergeTree"):
            assert re.search(r"^ORDER BY ", statement, re.MULTILINE), f"{name}: MergeTree needs ORDER BY"
            # PARTITION BY tuple() is allowed and states "deliberately unpartitioned".
            assert re.search(r"^PARTITION BY ", statement, re.MULTILINE), f"{name}: state PARTITION BY explicitly"


def test_facts_are_partitioned_by_month_and_ordered_for_the_dashboards():
    tables = {name.split(".")[-1]: statement for _, name, statement in _create_tables()}
    for fact in ("fact_sales", "fact_inventory"):
        assert "PARTITION BY toYYYYMM(date_key)" in tables[fact]
        assert re.search(r"^ORDER BY \(date_key, store_id, category, product_id", tables[fact], re.MULTILINE)
    assert {"dim_date", "dim_store", "dim_product", "dim_supplier", "schema_migrations"} <= set(tables)


def test_money_is_decimal_and_times_are_utc_datetime64():
    checked = 0
    for _, name, statement in _create_tables():
        for column, column_type in _COLUMN.findall(statement):
            if _MONEY.match(column):
                assert column_type.startswith("Decimal("), f"{name}.{column} is money: use Decimal, not {column_type}"
                checked += 1
            if _TIME.match(column):
                allowed = ("DateTime64(3, 'UTC')", "Nullable(DateTime64(3, 'UTC'))")
                assert column_type in allowed, f"{name}.{column}: use DateTime64(3, 'UTC')"
                checked += 1
    assert checked > 10


def test_schema_file_matches_the_migrations_it_claims():
    # The live comparison is in tests/integration/test_migrations.py; this catches a forgotten regeneration.
    text = m.SCHEMA_FILE.read_text(encoding="utf-8")
    assert f"-- Schema version: {MIGRATIONS[-1].label}\n" in text
    for migration, name, _ in _create_tables():
        if migration.needs_access_control:
            continue  # server-only (compose/cluster): not applied on the engine schema.sql is dumped from
        assert f"CREATE TABLE {name}\n" in text, f"{name} is missing from sql/schema.sql: run dump-schema"


# --- checksums ----------------------------------------------------------------------------------


def test_checksum_is_sha256_of_the_file_text():
    for migration in MIGRATIONS:
        text = migration.path.read_text(encoding="utf-8")
        assert migration.checksum == hashlib.sha256(text.encode()).hexdigest()


def test_checksum_ignores_line_endings_but_not_content():
    text = "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n"
    assert m.checksum(text) == m.checksum(text.replace("\n", "\r\n"))
    assert m.checksum(text) != m.checksum(text.replace("SELECT 1", "SELECT 3"))
    assert len(m.checksum(text)) == 64


# --- splitting ----------------------------------------------------------------------------------


def test_statements_split_only_on_a_semicolon_ending_a_line():
    sql = (
        "-- a comment that ends with a semicolon;\n"
        "CREATE TABLE t (s String DEFAULT 'a;b')\n"
        "ENGINE = MergeTree ORDER BY s;\n"
        "\n"
        "INSERT INTO t VALUES ('x;');   \n"
        "-- trailing comment only\n"
    )
    statements = m.split_statements(sql)
    assert len(statements) == 2
    assert statements[0].endswith("ORDER BY s")
    assert "'a;b'" in statements[0]
    assert statements[1] == "INSERT INTO t VALUES ('x;')"


def test_a_statement_without_its_semicolon_is_refused():
    with pytest.raises(MigrationError, match="closing ';'"):
        m.split_statements("SELECT 1;\nSELECT 2\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1;\n-- migrate:down\nSELECT 2;\n", "exactly one"),
        ("-- migrate:up\nSELECT 1;\n-- migrate:up\n-- migrate:down\nSELECT 2;\n", "exactly one"),
        ("-- migrate:down\nSELECT 2;\n-- migrate:up\nSELECT 1;\n", "must come after"),
        ("SELECT 0;\n-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n", "before"),
    ],
)
def test_sections_are_checked(text, message):
    with pytest.raises(MigrationError, match=message):
        m.split_sections(text)


def test_render_substitutes_only_the_database_placeholder():
    sql = "CREATE TABLE {database}.t (m Map(String, UInt8) DEFAULT {'a': 1}) ENGINE = Memory"
    assert m.render(sql, "db_1") == "CREATE TABLE db_1.t (m Map(String, UInt8) DEFAULT {'a': 1}) ENGINE = Memory"
    for bad in ("", "retail; DROP DATABASE x", "re-tail", "1retail"):
        with pytest.raises(MigrationError, match="plain identifier"):
            m.render(sql, bad)


# --- loading a folder ---------------------------------------------------------------------------


def test_load_orders_files_and_ignores_schema_sql(tmp_path):
    _write(tmp_path, "0002_second.sql")
    _write(tmp_path, "0001_first.sql")
    (tmp_path / "schema.sql").write_text("CREATE TABLE x;\n")
    assert [mig.label for mig in m.load_migrations(tmp_path)] == ["0001_first", "0002_second"]


def test_load_refuses_gaps(tmp_path):
    _write(tmp_path, "0001_first.sql")
    _write(tmp_path, "0003_third.sql")
    with pytest.raises(MigrationError, match="without gaps; missing 0002"):
        m.load_migrations(tmp_path)


def test_load_refuses_duplicate_numbers(tmp_path):
    _write(tmp_path, "0001_first.sql")
    _write(tmp_path, "0001_other.sql")
    with pytest.raises(MigrationError, match="duplicate migration numbers: 0001_first.sql, 0001_other.sql"):
        m.load_migrations(tmp_path)


@pytest.mark.parametrize("name", ["1_first.sql", "0001-first.sql", "0001_First.sql", "0001_first.SQL"])
def test_load_refuses_misnamed_files(tmp_path, name):
    _write(tmp_path, name)
    with pytest.raises(MigrationError, match="NNNN_lowercase_name.sql"):
        m.load_migrations(tmp_path)


def test_load_refuses_an_empty_down(tmp_path):
    _write(tmp_path, "0001_first.sql", down="-- nothing to undo")
    with pytest.raises(MigrationError, match="every migration must be reversible"):
        m.load_migrations(tmp_path)


# --- files against the warehouse's record -------------------------------------------------------


def _record(mig: m.Migration, **changes: object) -> AppliedMigration:
    values = {"version": mig.version, "name": mig.name, "checksum": mig.checksum} | changes
    return AppliedMigration(**values)


def test_verify_accepts_a_consistent_prefix():
    m.verify(MIGRATIONS, [])
    m.verify(MIGRATIONS, [_record(mig) for mig in MIGRATIONS[:2]])
    states = [row.state for row in m.status_of(MIGRATIONS, [_record(MIGRATIONS[0])])]
    assert states == ["applied"] + ["pending"] * (len(MIGRATIONS) - 1)


def test_verify_refuses_a_changed_checksum():
    applied = [_record(MIGRATIONS[0], checksum="0" * 64)]
    with pytest.raises(MigrationError, match="0001_create_database.sql changed after it was applied"):
        m.verify(MIGRATIONS, applied)
    assert m.status_of(MIGRATIONS, applied)[0].state == "changed"


def test_verify_refuses_a_missing_file():
    applied = [_record(mig) for mig in MIGRATIONS] + [AppliedMigration(99, "gone", "0" * 64)]
    with pytest.raises(MigrationError, match="0099_gone is applied but sql/0099_gone.sql is missing"):
        m.verify(MIGRATIONS, applied)
    assert m.status_of(MIGRATIONS, applied)[-1].state == "missing"


def test_verify_refuses_a_pending_migration_older_than_an_applied_one():
    applied = [_record(MIGRATIONS[0]), _record(MIGRATIONS[2])]
    with pytest.raises(MigrationError, match="0002_dimensions.sql is pending but 0003 is already applied"):
        m.verify(MIGRATIONS, applied)


def test_cli_down_requires_a_target():
    with pytest.raises(SystemExit) as exit_info:
        m.main(["down"])
    assert exit_info.value.code == 2


def test_dumped_schema_names_the_database_by_placeholder():
    create = "CREATE VIEW scratch_7.v\nAS SELECT k FROM scratch_7.t JOIN `scratch_7`.u USING k WHERE s = 'scratch_7x'"
    assert m._normalise(create, "scratch_7") == (
        "CREATE VIEW {database}.v\nAS SELECT k FROM {database}.t JOIN {database}.u USING k WHERE s = 'scratch_7x'"
    )
    assert m._normalise("CREATE DATABASE scratch_7\nENGINE = Atomic  ", "scratch_7") == (
        "CREATE DATABASE {database}\nENGINE = Atomic"
    )


def test_data_moving_migrations_are_marked_by_what_they_run():
    # A new migration that writes rows shows up here: a visible decision, and `status` says so.
    assert [mig.label for mig in MIGRATIONS if mig.moves_data] == ["0014_serving_aggregates"]


@pytest.mark.parametrize(
    ("statement", "moves"),
    [
        ("INSERT INTO {database}.t SELECT * FROM {database}.u;", True),
        ("-- the backfill\n  insert into {database}.t (a) SELECT 1;", True),
        ("DELETE FROM {database}.t WHERE day < '2020-01-01';", True),
        ("TRUNCATE TABLE IF EXISTS {database}.t;", True),
        ("ALTER TABLE {database}.t UPDATE x = 1 WHERE 1;", True),
        ("ALTER TABLE {database}.t DELETE WHERE x = 1;", True),
        ("ALTER TABLE {database}.t MATERIALIZE COLUMN c;", True),
        ("ALTER TABLE {database}.t ADD COLUMN IF NOT EXISTS c UInt8;", False),
        ("CREATE VIEW IF NOT EXISTS {database}.v AS SELECT 'INSERT INTO x' AS s;", False),
        ("-- INSERT INTO a comment\nCREATE TABLE IF NOT EXISTS {database}.t (a UInt8) ENGINE = Log;", False),
        ("DROP TABLE IF EXISTS {database}.t SYNC;", False),
    ],
)
def test_what_counts_as_moving_data(statement, moves):
    assert m.moves_data(statement) is moves


def test_status_carries_the_mark():
    rows = m.status_of(MIGRATIONS, [])
    assert {r.name for r in rows if r.moves_data} == {"serving_aggregates"}
