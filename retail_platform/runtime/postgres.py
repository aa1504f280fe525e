"""A private PostgreSQL 15 for Airflow's metadata database, run when RETAIL_AIRFLOW_DATABASE_URL is a
postgresql URL on loopback (the cluster profile): its data under ``{state}/postgres/data``, listening
on the URL's host and port only, with the URL's role and database created on start.

Authentication: the cluster's superuser (``postgres``) has a generated password stored with mode 0600
under the state folder, and every connection, the superuser's included, authenticates with
scram-sha-256. Trust on loopback would let any local user of the machine connect as superuser to
the port; the password keeps the database as private as the state folder.

There is no unix socket: ``unix_socket_directories`` is empty, so nothing lands in a shared folder
such as /run/postgresql (which a system PostgreSQL owns), and a long state path cannot exceed the
socket path limit (107 bytes). Everything connects over TCP.

PostgreSQL refuses to run as root: under root, initdb and the server run as the ``postgres`` system
user (through ``setpriv``, which execs, so the pid file names the server itself) and own the
``postgres`` folder."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.process import ProcessSpec
from retail_platform.settings import Settings

PG_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
SERVER_USER = "postgres"  # the system user the server runs as under root
SUPERUSER = "postgres"  # the cluster's superuser role
INSTALL_HINT = "install PostgreSQL 15 (Debian: apt-get install postgresql)"
INITDB_DONE = "initdb.done"


@dataclass(frozen=True)
class DatabaseUrl:
    """The parts of a postgresql:// SQLAlchemy URL that `up` provisions."""

    host: str
    port: int
    user: str
    password: str
    database: str


def parse_url(url: str) -> DatabaseUrl:
    """Host, port, account and database of a postgresql[+driver]:// URL; user name and password
    may be percent-encoded (as SQLAlchemy writes them)."""
    parsed = urlparse(url)
    if not parsed.scheme.startswith("postgresql"):
        raise RuntimeStartError(f"{_redact(url)}: not a postgresql:// URL")
    database = unquote(parsed.path.lstrip("/"))
    missing = [
        what
        for what, value in (("a user", parsed.username), ("a password", parsed.password), ("a database", database))
        if not value
    ]
    if missing or not parsed.hostname:
        raise RuntimeStartError(
            f"RETAIL_AIRFLOW_DATABASE_URL={_redact(url)} lacks {', '.join(missing) or 'a host'}; expected "
            "postgresql+psycopg2://user:password@127.0.0.1:port/database"
        )
    try:
        port = parsed.port or 5432
    except ValueError:
        raise RuntimeStartError(f"RETAIL_AIRFLOW_DATABASE_URL={_redact(url)}: the port is not a number") from None
    return DatabaseUrl(
        host=parsed.hostname,
        port=port,
        user=unquote(parsed.username or ""),
        password=unquote(parsed.password or ""),
        database=database,
    )


def _redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return url.replace(f":{parsed.password}@", ":***@", 1)


class Postgres:
    name = "postgres"
    needs: tuple[str, ...] = ()

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.home = settings.state_dir / "postgres"
        self.data = self.home / "data"
        self.password_file = self.home / "superuser-password"

    @property
    def url(self) -> DatabaseUrl:
        return parse_url(self.s.airflow_database_url)

    def ports(self) -> list[int]:
        where = self.s.airflow_postgres
        return [where[1]] if where else []

    # --- binaries and the user the server runs as -------------------------------------------

    @staticmethod
    def find_binaries() -> tuple[Path, Path] | None:
        """initdb and postgres: Debian's PostgreSQL 15 folder first, else both from PATH."""
        bin_dir = PG_BIN_DIR
        if (bin_dir / "initdb").exists() and (bin_dir / "postgres").exists():
            return bin_dir / "initdb", bin_dir / "postgres"
        initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
        if initdb and postgres:
            return Path(initdb), Path(postgres)
        return None

    def binaries(self) -> tuple[Path, Path]:
        found = self.find_binaries()
        if found is None:
            raise RuntimeStartError(
                f"PostgreSQL's server programs (initdb, postgres) are missing: not in {PG_BIN_DIR} nor on PATH; "
                f"{INSTALL_HINT}"
            )
        return found

    @staticmethod
    def as_root() -> bool:
        return os.geteuid() == 0

    def server_account(self) -> pwd.struct_passwd | None:
        """The system user that runs initdb and the server under root; None when not root (the
        current user runs them)."""
        if not self.as_root():
            return None
        try:
            return pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise RuntimeStartError(
                f"running as root, PostgreSQL must run as the {SERVER_USER!r} system user, which does not exist; "
                f"{INSTALL_HINT} (it creates the user), or run `up` as an ordinary user"
            ) from None

    def _prefix(self) -> list[str]:
        """argv prefix that drops root to the server user (empty when not root). setpriv execs the
        program, so the pid that process.start records is the server's own."""
        if not self.as_root():
            return []
        return ["setpriv", f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups"]

    # --- the cluster ---------------------------------------------------------------------------

    def initdb_argv(self) -> list[str]:
        return [
            *self._prefix(),
            str(self.binaries()[0]),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            f"--pwfile={self.password_file}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
        ]

    def server_argv(self) -> list[str]:
        # No error for missing binaries here: `down` and `status` build the argv too (prepare() checks).
        found = self.find_binaries()
        postgres = found[1] if found else PG_BIN_DIR / "postgres"
        url = self.url
        return [
            *self._prefix(),
            str(postgres),
            "-D",
            str(self.data),
            "-c",
            f"listen_addresses={url.host}",
            "-c",
            f"port={url.port}",
            "-c",
            "unix_socket_directories=",
        ]

    def _check_traversable(self, account: pwd.struct_passwd) -> None:
        """Every folder above the state's postgres folder must let the server user pass."""
        groups = {account.pw_gid, *(g.gr_gid for g in _groups_of(account.pw_name))}
        for folder in self.home.parents:
            st = folder.stat()
            if st.st_uid == account.pw_uid:
                ok = bool(st.st_mode & stat.S_IXUSR)
            elif st.st_gid in groups:
                ok = bool(st.st_mode & stat.S_IXGRP)
            else:
                ok = bool(st.st_mode & stat.S_IXOTH)
            if not ok:
                raise RuntimeStartError(
                    f"PostgreSQL runs as the {account.pw_name!r} user, which cannot enter {folder} (mode "
                    f"{stat.S_IMODE(st.st_mode):o}); put the state folder (RETAIL_STATE_DIR) under folders others "
                    "may traverse (chmod o+x), or run `up` as an ordinary user"
                )

    def prepare(self) -> None:
        self.url  # noqa: B018 -- a malformed URL fails here, before anything is written
        self.binaries()
        account = self.server_account()
        if account is not None and shutil.which("setpriv") is None:
            raise RuntimeStartError("setpriv is missing (it drops root to the postgres user); install util-linux")
        self.home.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        if account is not None:
            self._check_traversable(account)
            os.chown(self.home, account.pw_uid, account.pw_gid)
        if not self.password_file.exists():
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(24) + "\n")
        if account is not None:
            # initdb reads the password file as the server user.
            os.chown(self.password_file, account.pw_uid, account.pw_gid)
        if (self.home / INITDB_DONE).exists():
            return
        if self.data.exists() and any(self.data.iterdir()):
            raise RuntimeStartError(
                f"PostgreSQL's data folder {self.data} is half-written (initdb did not finish: no "
                f"{self.home / INITDB_DONE}); remove {self.data} or run `make reset`"
            )
        result = subprocess.run(self.initdb_argv(), capture_output=True, text=True, cwd=self.home)
        if result.returncode != 0:
            raise RuntimeStartError(f"initdb failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        (self.home / INITDB_DONE).write_text("1\n")

    def processes(self, run_dir: Path) -> list[ProcessSpec]:
        # SIGINT is PostgreSQL's "fast" shutdown: open sessions are ended, a shutdown checkpoint is
        # written and the server exits cleanly. SIGTERM ("smart") would wait for every client (an
        # idle Airflow pool, a psql left open) and end in SIGKILL and crash recovery on the next start.
        return [
            ProcessSpec(
                "postgres", self.server_argv(), run_dir, cwd=self.home, stop_timeout=60, stop_signal=signal.SIGINT
            )
        ]

    def _superuser_password(self) -> str:
        return self.password_file.read_text().strip()

    def connect_superuser(self, database: str = "postgres") -> Any:  # psycopg2 ships no types
        import psycopg2

        url = self.url
        return psycopg2.connect(
            host=url.host,
            port=url.port,
            user=SUPERUSER,
            password=self._superuser_password(),
            dbname=database,
            connect_timeout=3,
        )

    def healthy(self) -> bool:
        conn = self.connect_superuser()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1")
                return cur.fetchone() == (1,)
        finally:
            conn.close()

    def after_start(self) -> None:
        """The URL's role (login, its password) and database, created when missing; the role's
        password follows the URL on every start."""
        from psycopg2 import sql

        url = self.url
        conn = self.connect_superuser()
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (url.user,))
                verb = "ALTER" if cur.fetchone() else "CREATE"
                cur.execute(
                    sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(url.user)), (url.password,)
                )
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
                if cur.fetchone() is None:
                    cur.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                            sql.Identifier(url.database), sql.Identifier(url.user)
                        )
                    )
        finally:
            conn.close()

    def describe(self) -> str:
        url = self.url
        return f"PostgreSQL on {url.host}:{url.port} (Airflow's database {url.database!r}, data in {self.data})"


def _groups_of(user: str) -> list[grp.struct_group]:
    return [g for g in grp.getgrall() if user in g.gr_mem]
