"""The insert specs of the stream's tables agree with the migrations (names and types: the CREATE,
then columns later migrations add), and the migration keeps the rules that make the inserts
idempotent."""

from __future__ import annotations

import re

import pytest

from retail_platform.settings import REPO_ROOT
from retail_platform.streaming import tables
from retail_platform.warehouse.migrations import parse_migration

MIGRATION = REPO_ROOT / "sql" / "0006_realtime.sql"


def create_statement(table: str) -> str:
    for path in sorted((REPO_ROOT / "sql").glob("[0-9][0-9][0-9][0-9]_*.sql")):
        for statement in parse_migration(path).up:
            if re.search(rf"CREATE TABLE IF NOT EXISTS \{{database\}}\.{table}\b", statement):
                return statement
    raise AssertionError(f"{table} is not created by any migration")


def declared_columns(statement: str) -> dict[str, str]:
    body = statement[statement.index("(") + 1 : statement.index("\nENGINE")]
    columns: dict[str, str] = {}
    for line in body.splitlines():
        match = re.match(r"\s+([a-z_]+) (.+?)(?: DEFAULT .*| COMMENT .*)?,?$", line)
        if match:
            columns[match.group(1)] = match.group(2).rstrip(",")
    return columns


def added_columns(table: str) -> dict[str, str]:
    """Columns later migrations add with ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS name type``."""
    added: dict[str, str] = {}
    pattern = re.compile(
        rf"ALTER TABLE \{{database\}}\.{table} ADD COLUMN IF NOT EXISTS (\w+) (.+?)(?:\s+COMMENT .*)?$", re.S
    )
    for path in sorted((REPO_ROOT / "sql").glob("[0-9][0-9][0-9][0-9]_*.sql")):
        for statement in parse_migration(path).up:
            match = pattern.match(statement.strip())
            if match:
                added[match.group(1)] = match.group(2).strip()
    return added


def normalise(type_: str) -> str:
    type_ = re.sub(r"LowCardinality\((.+)\)", r"\1", type_)
    return type_.replace(" ", "")


@pytest.mark.parametrize("table", tables.ALL_TABLES, ids=lambda t: t.name)
def test_insert_columns_exist_with_their_types(table):
    declared = declared_columns(create_statement(table.name)) | added_columns(table.name)
    for name, type_ in table.columns:
        assert name in declared, f"{table.name}.{name} is not in the migration"
        assert normalise(declared[name]) == normalise(type_), f"{table.name}.{name}"


@pytest.mark.parametrize("table", tables.ALL_TABLES, ids=lambda t: t.name)
def test_every_table_remembers_deduplication_tokens_and_has_no_check_constraint(table):
    statement = create_statement(table.name)
    assert "non_replicated_deduplication_window = 1000" in statement
    assert "CONSTRAINT" not in statement.upper()


def test_the_views_are_created_and_dropped():
    migration = parse_migration(MIGRATION)
    for view in ("v_rt_sales_velocity", "v_rt_stock_risk"):
        assert any(f"CREATE VIEW IF NOT EXISTS {{database}}.{view}" in s for s in migration.up)
        assert any(f"DROP VIEW IF EXISTS {{database}}.{view}" in s for s in migration.down)
