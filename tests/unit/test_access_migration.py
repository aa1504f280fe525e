"""sql/0022_server_access_control.sql: the compose/cluster server's accounts and row policies.

No ClickHouse server runs on the development machine and the embedded engine refuses CREATE USER/
ROLE/ROW POLICY (it has no writable access storage), so this migration is checked here for structure:
every object its up creates, its down drops; every table with a store_id gets the store-manager
policy; secrets come from the settings, never the file.
"""

from __future__ import annotations

import re

import pytest

from retail_platform.settings import load_settings
from retail_platform.warehouse import migrations
from retail_platform.warehouse.migrations import MIGRATIONS_DIR, SCHEMA_FILE, load_migrations

_KINDS = "(ROLE|USER|SETTINGS PROFILE|ROW POLICY|TABLE)"
_CREATE = r"\s*CREATE " + _KINDS + r" IF NOT EXISTS (\S+)(?: ON (\S+))?"
_DROP = r"\s*DROP " + _KINDS + r" IF EXISTS (\S+)(?: ON (\S+))?"
ACCESS = next(m for m in load_migrations() if m.name == "server_access_control")
# Server-only migrations: 0022, and the row policies of tables created after it (0030 for 0029's).
SERVER_ONLY = ("server_access_control", "stream_anomalies_access")
SERVER_MIGRATIONS = [m for m in load_migrations() if m.needs_access_control]


def _tables_with_store_id() -> set[str]:
    text = SCHEMA_FILE.read_text()
    blocks = re.split(r"\n(?=CREATE )", text)
    return {
        m.group(1)
        for block in blocks
        if (m := re.match(r"CREATE TABLE \{database\}\.(\w+)", block)) and re.search(r"\n\s+`?store_id`? ", block)
    }


def _created(statements: tuple[str, ...]) -> set[tuple[str, str]]:
    found = set()
    for statement in statements:
        m = re.match(
            r"\s*CREATE (ROLE|USER|SETTINGS PROFILE|ROW POLICY|TABLE) IF NOT EXISTS (\S+)(?: ON (\S+))?", statement
        )
        if m:
            found.add((m.group(1), m.group(2) + (f" ON {m.group(3)}" if m.group(3) else "")))
    return found


def _dropped(statements: tuple[str, ...]) -> set[tuple[str, str]]:
    found = set()
    for statement in statements:
        m = re.match(_DROP, statement)
        if m:
            found.add((m.group(1), m.group(2) + (f" ON {m.group(3).rstrip(';')}" if m.group(3) else "")))
    return found


def test_only_the_access_migrations_need_a_server() -> None:
    assert tuple(m.name for m in SERVER_MIGRATIONS) == SERVER_ONLY


@pytest.mark.parametrize("migration", SERVER_MIGRATIONS, ids=lambda m: m.label)
def test_down_drops_everything_up_creates(migration: migrations.Migration) -> None:
    assert _created(migration.up) == _dropped(migration.down)
    assert len(migration.down) == len(_dropped(migration.down)), "every down statement is a DROP ... IF EXISTS"
    assert all(re.match(r"\s*(CREATE \S+( \S+)? IF NOT EXISTS|GRANT) ", s) for s in migration.up), "idempotent"


def test_every_table_with_a_store_gets_the_store_policy_and_the_open_one() -> None:
    created = set().union(*(_created(m.up) for m in SERVER_MIGRATIONS))
    tables = _tables_with_store_id()
    assert len(tables) >= 10
    for table in tables:
        assert ("ROW POLICY", f"retail_assigned_stores ON {{database}}.{table}") in created, table
        assert ("ROW POLICY", f"retail_all_stores ON {{database}}.{table}") in created, table
    statements = [s for m in SERVER_MIGRATIONS for s in m.up]
    store_policies = [s for s in statements if "retail_assigned_stores" in s]
    assert all("TO retail_store_manager" in s and "currentUser()" in s for s in store_policies)
    assert all("TO ALL EXCEPT retail_store_manager" in s for s in statements if "retail_all_stores" in s)


def test_bi_role_is_read_only_and_has_no_source_grants() -> None:
    text = " ".join(ACCESS.up)
    grants = re.findall(r"GRANT (.+?) TO (\S+)", text)
    assert ("SELECT ON {database}.*", "retail_bi_reader") in grants
    assert not any(re.search(r"\b(ALL|INSERT|ALTER|CREATE|DROP|FILE|URL|S3|REMOTE|SOURCES)\b", g) for g, _ in grants)
    assert re.search(r"SETTINGS readonly = 1 CONST TO retail_bi_reader", text)


def test_no_secret_in_the_file_and_settings_fill_the_account(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "retail_bi" not in ACCESS.path.read_text().replace("retail_bi_reader", "").replace("retail_bi_readonly", "")
    settings = load_settings({"RETAIL_CLICKHOUSE_BI_USER": "bi_x", "RETAIL_CLICKHOUSE_BI_PASSWORD": "it's\\x"})
    monkeypatch.setattr(migrations, "get_settings", lambda: settings)
    statements = ACCESS.statements("up", "retail")
    user = next(s for s in statements if s.startswith("CREATE USER"))
    assert "CREATE USER IF NOT EXISTS bi_x IDENTIFIED WITH sha256_password BY 'it\\'s\\\\x'" in user
    assert not any("{bi_" in s or "{database}" in s for s in statements)


def test_user_name_that_is_not_an_identifier_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings({"RETAIL_CLICKHOUSE_BI_USER": "bi-x"})
    monkeypatch.setattr(migrations, "get_settings", lambda: settings)
    with pytest.raises(migrations.MigrationError, match="RETAIL_CLICKHOUSE_BI_USER"):
        ACCESS.statements("up", "retail")


def test_other_migrations_do_not_use_account_placeholders() -> None:
    for path in sorted(MIGRATIONS_DIR.glob("00*.sql")):
        if path != ACCESS.path:
            assert "{bi_" not in path.read_text(), path.name
