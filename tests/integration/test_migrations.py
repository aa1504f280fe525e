"""Migrations against the running warehouse endpoint: apply, reverse, re-apply, schema.sql, refusals,
and a row through every table. Each test migrates its own scratch database."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from retail_platform.warehouse import migrations
from retail_platform.warehouse.migrations import MigrationError

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]

FILES = migrations.load_migrations()
# Every object the up sections create, read from the files so a new migration needs no edit here.
CREATED = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TABLE|(?:MATERIALIZED\s+)?VIEW|DICTIONARY)\s+"
    r"(?:IF\s+NOT\s+EXISTS\s+)?\{database\}\.`?(\w+)",
    re.IGNORECASE,
)
# The test warehouse is the embedded engine: it has no SQL access control, so a migration that needs
# it (users, roles, row policies: compose/cluster only) is recorded without creating anything.
TABLES = {
    name for m in FILES if not m.needs_access_control for statement in m.up for name in CREATED.findall(statement)
}
UTC = timezone.utc


@pytest.fixture
def client(warehouse_client_factory) -> Client:
    # No default database: the scratch database does not exist before the first migration.
    return warehouse_client_factory(database="")


@pytest.fixture
def db(client: Client) -> Iterator[str]:
    name = f"retail_it_{uuid.uuid4().hex[:10]}"
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


@pytest.fixture
def migrated(client: Client, db: str) -> str:
    migrations.apply_all(client, database=db)
    return db


@pytest.fixture
def sql_copy(tmp_path: Path) -> Path:
    """A private copy of sql/ that a test may edit."""
    folder = tmp_path / "sql"
    folder.mkdir()
    for migration in FILES:
        shutil.copy(migration.path, folder / migration.path.name)
    return folder


def _tables(client: Client, db: str) -> set[str]:
    rows = client.query("SELECT name FROM system.tables WHERE database = %(db)s", parameters={"db": db}).result_rows
    return {row[0] for row in rows if not row[0].startswith(".inner")}


def _database_exists(client: Client, db: str) -> bool:
    rows = client.query("SELECT count() FROM system.databases WHERE name = %(db)s", parameters={"db": db}).result_rows
    return rows[0][0] == 1


# --- lifecycle ----------------------------------------------------------------------------------


def test_apply_all_reverse_all_and_apply_again(client, db):
    assert not _database_exists(client, db)
    assert [m.label for m in migrations.pending(client, database=db)] == [m.label for m in FILES]

    applied = migrations.apply_all(client, database=db)
    assert [m.label for m in applied] == [m.label for m in FILES]
    assert _tables(client, db) == TABLES
    recorded = migrations.applied_migrations(client, db)
    assert [(r.version, r.name, r.checksum) for r in recorded] == [(m.version, m.name, m.checksum) for m in FILES]
    assert all(r.applied_at is not None for r in recorded)
    assert migrations.apply_all(client, database=db) == []  # up to date: nothing runs twice
    assert {row.state for row in migrations.status(client, database=db)} == {"applied"}

    reversed_ = migrations.rollback_all(client, database=db)
    assert [m.version for m in reversed_] == [m.version for m in reversed(FILES)]
    assert not _database_exists(client, db), "0001's down removes the database with its bookkeeping table"
    assert {row.state for row in migrations.status(client, database=db)} == {"pending"}

    assert len(migrations.apply_all(client, database=db)) == len(FILES)
    assert _tables(client, db) == TABLES


def test_rollback_to_a_version_keeps_the_older_migrations(client, migrated):
    reversed_ = migrations.rollback(1, client, database=migrated)
    assert [m.label for m in reversed_] == [m.label for m in reversed(FILES[1:])]
    assert _tables(client, migrated) == {"schema_migrations"}
    assert [r.version for r in migrations.applied_migrations(client, migrated)] == [1]
    assert [m.version for m in migrations.pending(client, database=migrated)] == [m.version for m in FILES[1:]]
    assert migrations.rollback(1, client, database=migrated) == []
    with pytest.raises(MigrationError, match="cannot roll back to 99"):
        migrations.rollback(99, client, database=migrated)
    migrations.apply_all(client, database=migrated)
    assert _tables(client, migrated) == TABLES


def test_live_schema_equals_schema_sql(client, migrated):
    live = migrations.dump_schema(client, migrated)
    assert live == migrations.SCHEMA_FILE.read_text(encoding="utf-8"), (
        "sql/schema.sql is stale: run `python -m retail_platform.warehouse.migrations dump-schema`"
    )


def test_generate_schema_leaves_no_scratch_database(client):
    before = {r[0] for r in client.query("SELECT name FROM system.databases").result_rows}
    assert migrations.generate_schema(client) == migrations.SCHEMA_FILE.read_text(encoding="utf-8")
    assert {r[0] for r in client.query("SELECT name FROM system.databases").result_rows} == before


# --- refusals -----------------------------------------------------------------------------------


def test_a_changed_applied_migration_is_refused(client, db, sql_copy):
    migrations.apply_all(client, database=db, directory=sql_copy)
    edited = sql_copy / FILES[1].path.name
    edited.write_text(edited.read_text(encoding="utf-8") + "\n-- an innocent-looking edit\n", encoding="utf-8")

    for attempt in (
        lambda: migrations.apply_all(client, database=db, directory=sql_copy),
        lambda: migrations.pending(client, database=db, directory=sql_copy),
        lambda: migrations.rollback_all(client, database=db, directory=sql_copy),
    ):
        with pytest.raises(MigrationError, match=f"{FILES[1].path.name} changed after it was applied"):
            attempt()
    states = {row.version: row.state for row in migrations.status(client, database=db, directory=sql_copy)}
    assert states[FILES[1].version] == "changed"
    assert _tables(client, db) == TABLES, "a refused command must not touch the schema"


def test_a_missing_applied_migration_is_refused(client, db, sql_copy):
    migrations.apply_all(client, database=db, directory=sql_copy)
    (sql_copy / FILES[-1].path.name).unlink()
    with pytest.raises(MigrationError, match=f"{FILES[-1].label} is applied but sql/{FILES[-1].label}.sql is missing"):
        migrations.apply_all(client, database=db, directory=sql_copy)
    assert migrations.status(client, database=db, directory=sql_copy)[-1].state == "missing"


def test_a_failed_migration_is_not_recorded_and_completes_when_fixed(client, migrated, sql_copy):
    number = len(FILES) + 1
    broken = sql_copy / f"{number:04d}_scratch_extra.sql"
    broken.write_text(
        "-- migrate:up\n"
        "CREATE TABLE IF NOT EXISTS {database}.extra_a (id UInt32) ENGINE = MergeTree ORDER BY id;\n"
        "CREATE TABLE IF NOT EXISTS {database}.extra_b (id UInt32) ENGINE = NoSuchEngine;\n"
        "-- migrate:down\n"
        "DROP TABLE IF EXISTS {database}.extra_b SYNC;\n"
        "DROP TABLE IF EXISTS {database}.extra_a SYNC;\n",
        encoding="utf-8",
    )
    with pytest.raises(MigrationError, match=f"{broken.name} \\(up\\) failed"):
        migrations.apply_all(client, database=migrated, directory=sql_copy)
    assert "extra_a" in _tables(client, migrated), "ClickHouse DDL is not transactional: the first statement ran"
    assert [m.version for m in migrations.pending(client, database=migrated, directory=sql_copy)] == [number]

    broken.write_text(broken.read_text(encoding="utf-8").replace("NoSuchEngine", "MergeTree ORDER BY id"))
    assert [m.version for m in migrations.apply_all(client, database=migrated, directory=sql_copy)] == [number]
    assert {"extra_a", "extra_b"} <= _tables(client, migrated)
    migrations.rollback(len(FILES), client, database=migrated, directory=sql_copy)
    assert _tables(client, migrated) == TABLES


def test_dropping_the_database_is_refused_while_it_holds_unmanaged_tables(client, migrated):
    client.command(f"CREATE TABLE {migrated}.scratch_notes (id UInt32) ENGINE = MergeTree ORDER BY id")
    with pytest.raises(MigrationError, match="tables no migration manages: scratch_notes"):
        migrations.rollback_all(client, database=migrated)
    assert _tables(client, migrated) == {"schema_migrations", "scratch_notes"}, "later migrations were reversed"
    client.command(f"DROP TABLE {migrated}.scratch_notes SYNC")
    migrations.rollback_all(client, database=migrated)
    assert not _database_exists(client, migrated)


# --- rows through every table -------------------------------------------------------------------


def _insert(client: Client, db: str, table: str, row: dict) -> None:
    client.insert(table, [list(row.values())], column_names=list(row), database=db)


def _utc(value: datetime) -> datetime:
    # clickhouse-connect may return DateTime64(3, 'UTC') values naive (in UTC) or aware.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _read(client: Client, db: str, sql: str) -> dict:
    result = client.query(sql.replace("{db}", db))
    assert len(result.result_rows) == 1, result.result_rows
    return dict(zip(result.column_names, result.result_rows[0], strict=True))


def test_dimension_rows_round_trip_with_derived_columns(client, migrated):
    _insert(client, migrated, "dim_date", {"date_key": date(2025, 3, 31), "is_holiday": False})
    day = _read(client, migrated, "SELECT * FROM {db}.dim_date FINAL")
    assert (day["year"], day["quarter"], day["month"], day["day_of_week"]) == (2025, 1, 3, 1)
    assert day["month_name"] == "March" and day["day_name"] == "Monday"
    assert day["is_month_end"] and day["is_quarter_end"] and not day["is_weekend"]
    assert day["year_month"] == 202503

    store = {"store_id": "store_001", "store_name": "Central", "store_type": "supermarket", "city": "Lyon"}
    store |= {"region": "ARA", "country": "FR", "opened_on": date(2019, 5, 1), "storage_capacity_units": 12000}
    _insert(client, migrated, "dim_store", store)
    _insert(client, migrated, "dim_store", store | {"region": "AURA", "batch_id": "b2"})  # SCD1 overwrite
    assert _read(client, migrated, "SELECT region, timezone FROM {db}.dim_store FINAL") == {
        "region": "AURA",
        "timezone": "UTC",
    }

    supplier = {"supplier_id": "SUP-789", "supplier_name": "Acme", "country": "DE", "lead_time_days": 5}
    _insert(client, migrated, "dim_supplier", supplier | {"lead_time_stddev_days": 1.5})
    row = _read(
        client, migrated, "SELECT lead_time_days, lead_time_stddev_days, min_order_quantity FROM {db}.dim_supplier"
    )
    assert row == {"lead_time_days": 5, "lead_time_stddev_days": 1.5, "min_order_quantity": 1}


def test_product_history_is_scd2(client, migrated):
    opened = datetime(2025, 1, 1, tzinfo=UTC)
    changed = datetime(2025, 2, 1, 9, 30, 0, 123000, tzinfo=UTC)
    version = {
        "product_id": "SKU123",
        "valid_from": opened,
        "product_name": "Kettle",
        "category": "kitchen",
        "supplier_id": "SUP-789",
        "unit_cost": Decimal("15.50"),
        "unit_price": Decimal("29.99"),
        "change_reason": "initial",
        "updated_at": opened,
    }
    _insert(client, migrated, "dim_product", version)
    # A price change: close the open version (same key, newer updated_at) and open the next one.
    _insert(
        client, migrated, "dim_product", version | {"valid_to": changed, "is_current": False, "updated_at": changed}
    )
    _insert(
        client,
        migrated,
        "dim_product",
        version
        | {
            "valid_from": changed,
            "unit_price": Decimal("27.49"),
            "change_reason": "price_change",
            "updated_at": changed,
        },
    )
    rows = client.query(
        f"SELECT valid_from, valid_to, is_current, unit_price FROM {migrated}.dim_product FINAL ORDER BY valid_from"
    ).result_rows
    assert len(rows) == 2
    assert _utc(rows[0][1]) == changed and rows[0][2] is False and rows[0][3] == Decimal("29.99")
    assert _utc(rows[1][0]) == changed and rows[1][2] is True and rows[1][3] == Decimal("27.49")
    assert rows[1][1].year == 2299
    # The price valid at a sale's time, by a plain range condition.
    at = _read(
        client,
        migrated,
        "SELECT unit_price FROM {db}.dim_product FINAL WHERE product_id = 'SKU123' "
        "AND toDateTime64('2025-01-15 12:00:00', 3, 'UTC') >= valid_from "
        "AND toDateTime64('2025-01-15 12:00:00', 3, 'UTC') < valid_to",
    )
    assert at == {"unit_price": Decimal("29.99")}


def _sale(sale_id: str, when: datetime, **changes: object) -> dict:
    row = {
        "sale_id": sale_id,
        "date_key": when.date(),
        "event_time": when,
        "store_id": "store_001",
        "product_id": "SKU123",
        "category": "kitchen",
        "payment_method": "credit_card",
        "quantity": 2,
        "unit_price": Decimal("29.99"),
        "unit_cost": Decimal("15.50"),
        "batch_id": "sales-2025-01-01-run1",
    }
    return row | changes


def test_fact_sales_row_round_trips_with_exact_money_and_event_time(client, migrated):
    when = datetime(2025, 1, 1, 10, 30, 0, 250000, tzinfo=UTC)
    _insert(client, migrated, "fact_sales", _sale("9f1c5d3e-0001", when, discount=Decimal("1.00")))
    row = _read(client, migrated, "SELECT * FROM {db}.fact_sales")
    assert row["revenue"] == Decimal("58.98")  # 2 x 29.99 - 1.00, computed by the DEFAULT
    assert row["cost"] == Decimal("31.00")
    assert row["profit"] == Decimal("27.98")
    assert _utc(row["event_time"]) == when
    assert row["date_key"] == date(2025, 1, 1)
    assert row["loaded_at"] is not None
    total = _read(client, migrated, "SELECT sum(revenue) AS total, toTypeName(total) AS type FROM {db}.fact_sales")
    assert total == {"total": Decimal("58.98"), "type": "Decimal(38, 2)"}


def test_constraints_reject_inconsistent_rows(client, migrated):
    when = datetime(2025, 1, 1, 23, 59, 59, tzinfo=UTC)
    with pytest.raises(Exception, match="profit_formula"):
        _insert(client, migrated, "fact_sales", _sale("s-1", when, revenue=Decimal("59.98"), profit=Decimal("1.00")))
    with pytest.raises(Exception, match="date_is_event_day"):
        _insert(client, migrated, "fact_sales", _sale("s-2", when, date_key=date(2025, 1, 2)))
    assert _read(client, migrated, "SELECT count() AS n FROM {db}.fact_sales") == {"n": 0}
    product = {"product_id": "SKU9", "valid_from": when, "product_name": "Mug", "category": "kitchen"}
    product |= {"supplier_id": "SUP-789", "unit_cost": Decimal("2.00"), "unit_price": Decimal("4.00")}
    with pytest.raises(Exception, match="current_is_open"):
        _insert(client, migrated, "dim_product", product | {"is_current": False})


def test_fact_inventory_row_round_trips_with_flags(client, migrated):
    cutoff = datetime(2025, 1, 1, 21, 58, 12, 5000, tzinfo=UTC)
    snapshot = {
        "date_key": date(2025, 1, 1),
        "store_id": "store_001",
        "product_id": "SKU123",
        "category": "kitchen",
        "supplier_id": "SUP-789",
        "quantity_on_hand": 12,
        "quantity_sold": 38,
        "reorder_point": 20,
        "safety_stock": 8,
        "unit_cost": Decimal("15.50"),
        "last_event_id": "inv-42",
        "last_event_time": cutoff,
        "batch_id": "inventory-2025-01-01-run1",
    }
    _insert(client, migrated, "fact_inventory", snapshot)
    _insert(client, migrated, "fact_inventory", snapshot | {"store_id": "store_002", "quantity_on_hand": -3})
    rows = client.query(
        f"SELECT store_id, stock_value, is_stockout, is_below_reorder_point, last_event_time "
        f"FROM {migrated}.fact_inventory ORDER BY store_id"
    ).result_rows
    assert [(*row[:4], _utc(row[4])) for row in rows] == [
        ("store_001", Decimal("186.00"), False, True, cutoff),
        ("store_002", Decimal("-46.50"), True, True, cutoff),
    ]


def test_schema_migrations_row_shape(client, migrated):
    row = _read(client, migrated, "SELECT * FROM {db}.schema_migrations FINAL WHERE version = 1")
    assert row["name"] == "create_database"
    assert row["checksum"] == FILES[0].checksum
    assert abs(datetime.now(UTC) - _utc(row["applied_at"])).total_seconds() < 3600


# --- the load pattern the facts are designed for ------------------------------------------------


def test_one_day_is_replaced_atomically_inside_a_monthly_partition(client, migrated):
    fact, stage = f"{migrated}.fact_sales", f"{migrated}.stage_fact_sales"
    for day in (1, 2, 3):
        rows = [_sale(f"d{day}-{i}", datetime(2025, 1, day, 12, i, tzinfo=UTC)) for i in range(3)]
        client.insert("fact_sales", [list(r.values()) for r in rows], column_names=list(rows[0]), database=migrated)

    # The recipe documented in sql/0003_facts.sql: re-load 2025-01-02 with 2 corrected rows.
    client.command(f"CREATE TABLE {stage} AS {fact}")
    client.command(f"ALTER TABLE {stage} ATTACH PARTITION 202501 FROM {fact}")
    client.command(f"DELETE FROM {stage} WHERE date_key = '2025-01-02'")
    fixed = [_sale(f"d2-{i}", datetime(2025, 1, 2, 12, i, tzinfo=UTC), quantity=5, batch_id="run2") for i in range(2)]
    client.insert("stage_fact_sales", [list(r.values()) for r in fixed], column_names=list(fixed[0]), database=migrated)
    client.command(f"ALTER TABLE {fact} REPLACE PARTITION 202501 FROM {stage}")
    client.command(f"DROP TABLE {stage} SYNC")

    per_day = client.query(
        f"SELECT date_key, count(), sum(quantity), groupUniqArray(batch_id) FROM {fact} "
        "GROUP BY date_key ORDER BY date_key"
    ).result_rows
    assert per_day == [
        (date(2025, 1, 1), 3, 6, ["sales-2025-01-01-run1"]),
        (date(2025, 1, 2), 2, 10, ["run2"]),
        (date(2025, 1, 3), 3, 6, ["sales-2025-01-01-run1"]),
    ]


def test_every_down_step_restores_the_schema_before_its_up(client, db, tmp_path):
    """For each migration k: the schema after ``up k; down k`` equals the schema after ``up k-1``
    (SHOW CREATE of every table and view: columns, types, defaults, engines, view queries)."""
    folder = tmp_path / "steps"
    folder.mkdir()
    for k, migration in enumerate(FILES, start=1):
        shutil.copy(migration.path, folder / migration.path.name)  # the files 1..k
        before = migrations.dump_schema(client, db) if k > 1 else None
        assert [m.version for m in migrations.apply_all(client, database=db, directory=folder)] == [migration.version]
        assert [m.version for m in migrations.rollback(k - 1, client, database=db, directory=folder)] == [
            migration.version
        ]
        if before is None:
            assert not _database_exists(client, db), f"{migration.label}: down leaves the database behind"
        else:
            assert migrations.dump_schema(client, db) == before, f"{migration.label}: down does not undo up"
        migrations.apply_all(client, database=db, directory=folder)
    assert _tables(client, db) == TABLES


def test_access_control_migration_is_recorded_without_running_on_the_embedded_engine(client, migrated):
    assert not migrations.has_sql_access_control(client)
    needs_server = [m for m in FILES if m.needs_access_control]
    assert needs_server, "sql/0022_server_access_control.sql is marked '-- requires: sql-access-control'"
    applied = {a.version for a in migrations.applied_migrations(client, migrated)}
    assert {m.version for m in needs_server} <= applied
    assert "bi_store_assignments" not in _tables(client, migrated)
