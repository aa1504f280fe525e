"""The warehouse's two accounts: settings (validated, password from a file), authentication at the
endpoint (hypothesis + hostile credentials), and the read-only account's function guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform.settings import SettingsError, load_settings
from retail_platform.warehouse.endpoint.config import Account, ConfigError, EndpointConfig
from retail_platform.warehouse.endpoint.errors import EndpointError
from retail_platform.warehouse.endpoint.outside import NOT_REFUSED_BY_READONLY, called_names, outside_functions
from retail_platform.warehouse.endpoint.process import command_line
from retail_platform.warehouse.endpoint.request import Credentials, authenticate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "warehouse"
ACCOUNTS = (Account("retail", "etl-pass"), Account("retail_bi", "bi-pass", read_only=True))


def _lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


# --- settings -------------------------------------------------------------------------------------


def test_bi_account_defaults_and_overrides() -> None:
    s = load_settings({})
    assert (s.clickhouse_bi_user, s.clickhouse_bi_password) == ("retail_bi", "retail_bi")
    s = load_settings({"RETAIL_CLICKHOUSE_BI_USER": "bi", "RETAIL_CLICKHOUSE_BI_PASSWORD": "x y"})
    assert (s.clickhouse_bi_user, s.clickhouse_bi_password) == ("bi", "x y")


def test_bi_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "bi-password"
    secret.write_text("from-the-file\nsecond line ignored\n")
    s = load_settings({"RETAIL_CLICKHOUSE_BI_PASSWORD": "from-env", "RETAIL_CLICKHOUSE_BI_PASSWORD_FILE": str(secret)})
    assert s.clickhouse_bi_password == "from-the-file"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RETAIL_CLICKHOUSE_BI_USER": ""}, "RETAIL_CLICKHOUSE_BI_USER is empty"),
        ({"RETAIL_CLICKHOUSE_BI_USER": "retail"}, "its own user name"),
        ({"RETAIL_CLICKHOUSE_USER": "retail_bi"}, "its own user name"),
        ({"RETAIL_CLICKHOUSE_BI_USER": "bi:x"}, "RETAIL_CLICKHOUSE_BI_USER='bi:x' contains"),
        ({"RETAIL_CLICKHOUSE_BI_USER": "b i"}, "contains"),
        ({"RETAIL_CLICKHOUSE_USER": "etl/x"}, "RETAIL_CLICKHOUSE_USER='etl/x' contains"),
        ({"RETAIL_CLICKHOUSE_BI_PASSWORD": ""}, "RETAIL_CLICKHOUSE_BI_PASSWORD is empty"),
        ({"RETAIL_CLICKHOUSE_BI_PASSWORD": "a\nb"}, "line break"),
        ({"RETAIL_CLICKHOUSE_PASSWORD": "a\rb"}, "RETAIL_CLICKHOUSE_PASSWORD contains a line break"),
        ({"RETAIL_CLICKHOUSE_BI_PASSWORD_FILE": "/nonexistent/bi"}, "cannot be read"),
    ],
)
def test_bad_account_settings_say_what_to_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        load_settings(env)


def test_empty_or_binary_password_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(SettingsError, match="is empty; write the password on its first line"):
        load_settings({"RETAIL_CLICKHOUSE_BI_PASSWORD_FILE": str(empty)})
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SettingsError, match="UTF-8"):
        load_settings({"RETAIL_CLICKHOUSE_BI_PASSWORD_FILE": str(binary)})


@given(st.text(max_size=20), st.text(max_size=20))
def test_any_account_setting_is_accepted_clean_or_refused(user: str, password: str) -> None:
    try:
        s = load_settings({"RETAIL_CLICKHOUSE_BI_USER": user, "RETAIL_CLICKHOUSE_BI_PASSWORD": password})
    except SettingsError as exc:
        assert "RETAIL_CLICKHOUSE" in str(exc)
        return
    assert s.clickhouse_bi_user == user and s.clickhouse_bi_password == password
    assert user and password and user != s.clickhouse_user
    assert not any(ch in user for ch in ":/@?#% \t\r\n") and user.isprintable()
    assert "\n" not in password and "\r" not in password
    EndpointConfig.from_settings(s).validate()  # what settings accept, the endpoint accepts


# --- endpoint configuration -------------------------------------------------------------------------


def test_endpoint_serves_both_accounts_from_settings() -> None:
    config = EndpointConfig.from_settings(load_settings({"RETAIL_CLICKHOUSE_BI_PASSWORD": "pw"}))
    assert config.accounts == (Account("retail", "retail"), Account("retail_bi", "pw", read_only=True))


def test_endpoint_refuses_a_bi_account_without_password_or_with_the_etl_name() -> None:
    base = EndpointConfig("127.0.0.1", 0, Path("/d"), "u", "p", bi_user="bi")
    with pytest.raises(ConfigError, match="no password"):
        base.validate()
    with pytest.raises(ConfigError, match="also the ETL user"):
        EndpointConfig("127.0.0.1", 0, Path("/d"), "u", "p", bi_user="u", bi_password="x").validate()


def test_child_process_gets_the_bi_user_in_argv_never_a_password() -> None:
    config = EndpointConfig("127.0.0.1", 0, Path("/d"), "u", "p", bi_user="bi", bi_password="secret")
    argv = command_line(config)
    assert argv[argv.index("--bi-user") + 1] == "bi"
    assert not any("secret" in arg for arg in argv)


# --- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _lines("hostile_credentials.jsonl"), ids=lambda c: c["case"])
def test_hostile_credentials(case: dict) -> None:
    given_credentials = Credentials(case["user"], case["password"])
    if case["account"] is None:
        with pytest.raises(EndpointError) as caught:
            authenticate(ACCOUNTS, given_credentials)
        assert caught.value.name == "AUTHENTICATION_FAILED" and caught.value.http_status == 403
        assert "Authentication failed: password is incorrect, or there is no user with such name" in caught.value.text
    else:
        assert authenticate(ACCOUNTS, given_credentials).user == case["account"]


@given(st.text(max_size=30), st.text(max_size=30))
def test_only_exact_credentials_authenticate(user: str, password: str) -> None:
    expected = next((a for a in ACCOUNTS if (a.user, a.password) == (user, password)), None)
    try:
        assert authenticate(ACCOUNTS, Credentials(user, password)) == expected
    except EndpointError as exc:
        assert expected is None and exc.code == 516


@given(st.sampled_from(ACCOUNTS))
def test_each_account_authenticates_as_itself(account: Account) -> None:
    assert authenticate(ACCOUNTS, Credentials(account.user, account.password)) is account


# --- the read-only account's function guard ---------------------------------------------------------

# What the engine reports (chdb 4.4): table functions refused under readonly=1, and scalar functions.
ENGINE_REFUSED = ["file", "url", "s3", "remote", "remoteSecure", "hdfs", "mysql", "postgresql", "jdbc", "odbc",
                  "executable", "python", "sqlite", "format", "zeros"]  # fmt: skip
SCALARS = ["format", "length", "file", "plus"]
DENIED = outside_functions(ENGINE_REFUSED, SCALARS)


def test_denied_names() -> None:
    assert {"file", "url", "s3", "remote", "remotesecure", "hdfs", "mysql", "postgresql", "jdbc", "odbc"} <= DENIED
    assert {"executable", "python", "cluster", "clusterallreplicas", "input"} <= DENIED
    assert "format" not in DENIED  # a scalar too; as a table function the engine's readonly refuses it
    assert NOT_REFUSED_BY_READONLY <= DENIED


@pytest.mark.parametrize("case", _lines("hostile_bi_statements.jsonl"), ids=lambda c: c["case"])
def test_hostile_statements(case: dict) -> None:
    assert sorted(called_names(case["canonical"]) & DENIED) == case["refused"]


_NAME = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@given(_NAME, st.text(max_size=40))
def test_a_call_is_found_whatever_its_argument(name: str, argument: str) -> None:
    assert name.lower() in called_names(f"SELECT * FROM {name}({_literal(argument)})")


@given(st.text(max_size=60))
def test_nothing_inside_a_literal_is_a_call(text: str) -> None:
    assert called_names(f"SELECT {_literal(text)}, {_literal(text)} AS x") == set()


@given(st.text(max_size=80))
def test_lexer_never_fails(text: str) -> None:
    assert all(name == name.lower() for name in called_names(text))
