"""The private PostgreSQL of Airflow's metadata database: URL parsing, the argv of initdb and the
server (as root and not), its errors, and when `up` runs it at all."""

from __future__ import annotations

import pwd
import signal
from pathlib import Path

import pytest

from retail_platform.runtime import postgres as pg
from retail_platform.runtime import stack
from retail_platform.runtime.airflow import Airflow
from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.postgres import Postgres, parse_url
from retail_platform.settings import load_settings

PG_URL = "postgresql+psycopg2://airflow:airflow@127.0.0.1:25432/airflow"


def _settings(tmp_path, url=PG_URL):
    return load_settings({"RETAIL_STATE_DIR": str(tmp_path / "state"), "RETAIL_AIRFLOW_DATABASE_URL": url})


@pytest.fixture
def fake_binaries(tmp_path, monkeypatch):
    """initdb and postgres as files in a folder of their own (nothing runs them)."""
    bin_dir = tmp_path / "pgbin"
    bin_dir.mkdir()
    for name in ("initdb", "postgres"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 1\n")
    monkeypatch.setattr(pg, "PG_BIN_DIR", bin_dir)
    return bin_dir


def _as_user(monkeypatch, uid):
    monkeypatch.setattr(pg.os, "geteuid", lambda: uid)


# --- URL ---------------------------------------------------------------------------------------


def test_url_parts_are_decoded():
    url = parse_url("postgresql+psycopg2://air%40flow:p%3Ass%2Fw@localhost:25433/meta%2Ddb")
    assert (url.host, url.port, url.user, url.password, url.database) == (
        "localhost",
        25433,
        "air@flow",
        "p:ss/w",
        "meta-db",
    )


def test_url_port_defaults_to_5432():
    assert parse_url("postgresql://a:b@127.0.0.1/db").port == 5432


@pytest.mark.parametrize(
    ("url", "lacking"),
    [
        ("postgresql://127.0.0.1:5432/db", "a user, a password"),
        ("postgresql://airflow@127.0.0.1:5432/db", "a password"),
        ("postgresql://airflow:secret@127.0.0.1:5432/", "a database"),
    ],
)
def test_an_incomplete_url_says_what_it_lacks(url, lacking):
    with pytest.raises(RuntimeStartError, match=f"lacks {lacking}") as caught:
        parse_url(url)
    assert "secret" not in str(caught.value)


def test_a_bad_port_is_reported_without_the_password():
    with pytest.raises(RuntimeStartError, match="port is not a number") as caught:
        parse_url("postgresql://airflow:secret@127.0.0.1:54x/db")
    assert "secret" not in str(caught.value) and ":***@" in str(caught.value)


# --- when `up` runs it ---------------------------------------------------------------------------


def test_services_include_postgres_for_a_loopback_postgresql_url(tmp_path):
    settings = _settings(tmp_path)
    assert [svc.name for svc in stack.services(settings)].count("postgres") == 1
    assert Airflow(settings).needs == ("postgres",)
    # `up --only airflow` brings its database along, first.
    assert [svc.name for svc in stack.services(settings, ("airflow",))] == ["postgres", "airflow"]
    # `down` stops in reverse: Airflow before its database.
    order = [svc.name for svc in reversed(stack.services(settings, with_needs=False))]
    assert order.index("airflow") < order.index("postgres")


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{state}/airflow/airflow.db",
        "postgresql+psycopg2://airflow:airflow@db.example.internal:5432/airflow",  # someone else's server
    ],
)
def test_services_leave_postgres_out_otherwise(tmp_path, url):
    settings = _settings(tmp_path, url)
    assert "postgres" not in [svc.name for svc in stack.services(settings)]
    assert "postgres" not in [svc.name for svc in stack.services(settings, with_needs=False)]
    assert Airflow(settings).needs == ()
    assert [svc.name for svc in stack.services(settings, ("airflow",))] == ["airflow"]
    # Asking for it by name is no error: there is just nothing to run.
    assert stack.services(settings, ("postgres",)) == []


def test_the_sqlite_default_stays_under_the_state_folder(tmp_path):
    settings = _settings(tmp_path, "sqlite:///{state}/airflow/airflow.db")
    assert settings.airflow_database_url == f"sqlite:///{tmp_path / 'state'}/airflow/airflow.db"
    assert settings.airflow_postgres is None


# --- argv and configuration ----------------------------------------------------------------------


def test_server_argv_as_an_ordinary_user(tmp_path, fake_binaries, monkeypatch):
    _as_user(monkeypatch, 1000)
    svc = Postgres(_settings(tmp_path))
    (spec,) = svc.processes(tmp_path / "run")
    data = tmp_path / "state" / "postgres" / "data"
    assert list(spec.argv) == [
        str(fake_binaries / "postgres"),
        "-D",
        str(data),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "port=25432",
        "-c",
        "unix_socket_directories=",
    ]
    assert spec.stop_signal == signal.SIGINT  # fast shutdown: open sessions end, checkpoint, exit
    assert spec.cwd == svc.home
    assert svc.ports() == [25432]


def test_server_and_initdb_run_as_the_postgres_user_under_root(tmp_path, fake_binaries, monkeypatch):
    _as_user(monkeypatch, 0)
    svc = Postgres(_settings(tmp_path))
    prefix = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
    (spec,) = svc.processes(tmp_path / "run")
    assert list(spec.argv[:5]) == [*prefix, str(fake_binaries / "postgres")]
    initdb = svc.initdb_argv()
    assert initdb[:5] == [*prefix, str(fake_binaries / "initdb")]


def test_initdb_sets_a_superuser_password_and_scram(tmp_path, fake_binaries, monkeypatch):
    _as_user(monkeypatch, 1000)
    svc = Postgres(_settings(tmp_path))
    argv = svc.initdb_argv()
    assert argv[0] == str(fake_binaries / "initdb")
    assert argv[argv.index("-D") + 1] == str(svc.data)
    assert argv[argv.index("-U") + 1] == "postgres"
    assert f"--pwfile={svc.password_file}" in argv
    assert {"--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--encoding=UTF8"} <= set(argv)


def test_the_server_listens_on_the_urls_host(tmp_path, fake_binaries, monkeypatch):
    _as_user(monkeypatch, 1000)
    svc = Postgres(_settings(tmp_path, "postgresql://meta:pw@localhost:26000/meta"))
    (spec,) = svc.processes(tmp_path / "run")
    assert "listen_addresses=localhost" in spec.argv and "port=26000" in spec.argv
    assert "localhost:26000" in svc.describe() and "'meta'" in svc.describe()


# --- errors --------------------------------------------------------------------------------------


def test_missing_binaries_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(pg, "PG_BIN_DIR", tmp_path / "nothing")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    svc = Postgres(_settings(tmp_path))
    with pytest.raises(RuntimeStartError, match=r"initdb, postgres\) are missing.*apt-get install postgresql"):
        svc.prepare()
    # `down` and `status` still get a process to look for (by its pid file).
    assert len(svc.processes(tmp_path / "run")) == 1


def test_a_missing_postgres_user_under_root_says_what_to_install(tmp_path, fake_binaries, monkeypatch):
    _as_user(monkeypatch, 0)
    monkeypatch.setattr(pg, "SERVER_USER", "no-such-user-for-postgres")
    with pytest.raises(RuntimeStartError, match=r"'no-such-user-for-postgres' system user.*install PostgreSQL 15"):
        Postgres(_settings(tmp_path)).prepare()


def test_a_half_written_data_folder_says_what_to_remove(tmp_path, fake_binaries, monkeypatch):
    _as_user(monkeypatch, 1000)
    svc = Postgres(_settings(tmp_path))
    svc.data.mkdir(parents=True)
    (svc.data / "PG_VERSION").write_text("15\n")
    with pytest.raises(RuntimeStartError, match="half-written") as caught:
        svc.prepare()
    assert f"remove {svc.data}" in str(caught.value)
    # The superuser's password is private to the state folder's owner.
    assert svc.password_file.stat().st_mode & 0o777 == 0o600


def test_a_finished_initdb_is_not_repeated(tmp_path, fake_binaries, monkeypatch):
    _as_user(monkeypatch, 1000)
    svc = Postgres(_settings(tmp_path))
    svc.data.mkdir(parents=True)
    (svc.data / "PG_VERSION").write_text("15\n")
    (svc.home / pg.INITDB_DONE).write_text("1\n")
    password = None
    for _ in range(2):
        svc.prepare()  # the fake initdb would fail if it ran
        password = password or svc.password_file.read_text()
        assert svc.password_file.read_text() == password


def test_a_folder_the_server_user_cannot_enter_is_named(tmp_path):
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    svc = Postgres(_settings(closed))
    svc.home.mkdir(parents=True)
    other = pwd.struct_passwd(("someone", "x", 54321, 54321, "", "/", "/bin/sh"))
    with pytest.raises(RuntimeStartError, match=f"cannot enter {closed} \\(mode 700\\).*RETAIL_STATE_DIR"):
        svc._check_traversable(other)
    closed.chmod(0o711)
    try:
        svc._check_traversable(other)
    except RuntimeStartError as exc:  # a folder further up may be closed too (a private temp folder)
        assert f"cannot enter {closed} (" not in str(exc)


def test_the_url_is_checked_before_anything_is_written(tmp_path, fake_binaries):
    svc = Postgres(_settings(tmp_path, "postgresql://nobody@127.0.0.1:25432/airflow"))
    with pytest.raises(RuntimeStartError, match="lacks a password"):
        svc.prepare()
    assert not Path(svc.home).exists()
