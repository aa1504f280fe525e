"""The platform's settings: the only module that reads the environment.

Every process (CLI, warehouse endpoint, Spark jobs, Airflow tasks, simulators, tests) calls
``get_settings()``. Defaults describe the ``local`` profile; the ``compose`` and cluster profiles
override them with the same variable names (see docker-compose.yml). ``RETAIL_SETTINGS=test`` applies
the test overlay: other ports and another state folder, so tests never touch a running demo stack.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent

PROFILES = ("local", "compose", "cluster")
# Host names of this machine: a service at one of them (a spark:// master, Airflow's PostgreSQL, the
# lake's S3 endpoint) is one `up` runs; anywhere else it is used as it is.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


class SettingsError(ValueError):
    """Raised when a setting is missing or malformed; the message says which and how to fix it."""


# Variables the code reads, with the local profile's defaults. ``{state}`` and ``{repo}`` are
# substituted after the state folder is known. docker-compose.yml must provide every one of these
# that has no usable default in a container (checked by tests/unit/test_compose.py).
DEFAULTS: dict[str, str] = {
    "RETAIL_PROFILE": "local",
    "RETAIL_STATE_DIR": "{repo}/.state",
    "RETAIL_DEPS_DIR": "{repo}/.deps",
    "RETAIL_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "RETAIL_KAFKA_CONTROLLER_PORT": "9093",
    # PLAINTEXT or SSL: SSL serves the client listener with a certificate of the local CA (RETAIL_TLS_DIR)
    # and every client verifies it (retail_platform/kafka_security.py).
    "RETAIL_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    # Replicas of every platform topic, and how many must have a write before it is acknowledged
    # (producers send with acks=all): 1/1 on one broker; 3/2 on a three-broker cluster survives one
    # broker's loss without losing an acknowledged event. `up` refuses a cluster with fewer brokers.
    "RETAIL_KAFKA_REPLICATION_FACTOR": "1",
    "RETAIL_KAFKA_MIN_INSYNC_REPLICAS": "1",
    "RETAIL_CLICKHOUSE_URL": "http://127.0.0.1:8123",
    "RETAIL_CLICKHOUSE_USER": "retail",
    "RETAIL_CLICKHOUSE_PASSWORD": "retail",
    "RETAIL_CLICKHOUSE_DATABASE": "retail",
    # The read-only BI account (Superset, the inventory API's reads): readonly=1 fixed by the warehouse,
    # no table functions that read files or the network. Its password from the variable or, when
    # _PASSWORD_FILE is set, from that file (first line).
    "RETAIL_CLICKHOUSE_BI_USER": "retail_bi",
    "RETAIL_CLICKHOUSE_BI_PASSWORD": "retail_bi",
    "RETAIL_CLICKHOUSE_BI_PASSWORD_FILE": "",
    "RETAIL_CLICKHOUSE_DATA_DIR": "{state}/warehouse",
    "RETAIL_CLICKHOUSE_POOL_SIZE": "4",
    "RETAIL_LAKE_URI": "file://{state}/lake",
    "RETAIL_S3_ENDPOINT": "",
    "RETAIL_S3_ACCESS_KEY": "",
    "RETAIL_S3_SECRET_KEY": "",
    # The region S3A signs its requests for (a single-region store refuses others with HTTP 400).
    "RETAIL_S3_REGION": "us-east-1",
    "RETAIL_SPARK_MASTER": "local[2]",
    # With a spark://127.0.0.1:PORT master, `up` runs that standalone master and this many workers of
    # the given cores and memory; every Spark application is capped at RETAIL_SPARK_CORES_MAX cores so
    # the always-on stream leaves cores to the daily jobs (0: no cap, Spark's default takes them all).
    "RETAIL_SPARK_WORKERS": "2",
    "RETAIL_SPARK_WORKER_CORES": "1",
    "RETAIL_SPARK_WORKER_MEMORY": "3g",
    "RETAIL_SPARK_CORES_MAX": "0",
    "RETAIL_AIRFLOW_URL": "http://127.0.0.1:8080",
    "RETAIL_AIRFLOW_USER": "admin",
    "RETAIL_AIRFLOW_PASSWORD": "admin",
    "RETAIL_AIRFLOW_PARALLELISM": "4",
    # Airflow's metadata database (SQLAlchemy URL): SQLite in the state folder on one machine;
    # postgresql+psycopg2://... on a loopback host makes `up` run a private PostgreSQL cluster there.
    "RETAIL_AIRFLOW_DATABASE_URL": "sqlite:///{state}/airflow/airflow.db",
    # Event-time bounds (events/time_bounds.py): what the stream and the daily load accept.
    "RETAIL_EVENT_MAX_FUTURE_SECONDS": "3600",
    "RETAIL_EVENT_TIME_FLOOR": "2000-01-01",
    "RETAIL_STREAM_MAX_EVENT_AGE_DAYS": "35",
    # The batch/real-time switch: a day closes once the stream has read past its end plus this grace.
    "RETAIL_CLOSE_GRACE_MINUTES": "60",
    # The inventory API (retail_platform/api): https:// in the URL serves TLS with the cert and key below.
    "RETAIL_API_URL": "http://127.0.0.1:8000",
    "RETAIL_API_SECRET_FILE": "{state}/api/token-secret",
    # A product's stock is answered from a copy of the serving stock at most this old (0: every read
    # queries the warehouse); well under the stream's trigger interval.
    "RETAIL_API_STOCK_MAX_AGE_MS": "1000",
    # API worker processes (each holds its own stock copy, re-read every half of the age above).
    "RETAIL_API_WORKERS": "1",
    "RETAIL_TLS_DIR": "{state}/tls",
    # Superset (BI): its address, the admin login, and the password of the demo users it provisions.
    "RETAIL_SUPERSET_URL": "http://127.0.0.1:8088",
    "RETAIL_SUPERSET_USER": "admin",
    "RETAIL_SUPERSET_PASSWORD": "admin",
    "RETAIL_SUPERSET_DEMO_PASSWORD": "retail",
    # Threshold alerts (the ops_alerts DAG, retail_platform/alerts.py): an alert fires when its measure
    # exceeds the threshold: seconds since the newest streamed event, seconds from an event to its
    # micro-batch's commit, failed data-quality checks of the newest daily load.
    "RETAIL_ALERT_FRESHNESS_SECONDS": "900",
    "RETAIL_ALERT_STREAM_LAG_SECONDS": "120",
    "RETAIL_ALERT_DQ_FAILED_CHECKS": "0",
    # Stock anomalies in the stream (retail_platform/streaming/anomalies.py): units a reported stock
    # level may differ from the level its sales and deliveries explain before it is an anomaly.
    "RETAIL_ANOMALY_STOCK_TOLERANCE": "5",
    # Sales velocity against the forecast (retail_platform/streaming/velocity.py): the trailing window
    # of event time, the factor widening the forecast's interval into the breach band, and the units
    # the window must hold before its pace is judged.
    "RETAIL_ANOMALY_VELOCITY_WINDOW_SECONDS": "3600",
    "RETAIL_ANOMALY_VELOCITY_FACTOR": "3",
    "RETAIL_ANOMALY_VELOCITY_MIN_UNITS": "20",
}

# The real-time tables keep this many days (rt_sales_5min's TTL in sql/0006_realtime.sql): an event
# older than that at arrival would be deleted as soon as it is inserted.
REALTIME_RETENTION_DAYS = 35

# The test overlay: its own ports and state folder, so `make test` can run beside `make up`.
TEST_OVERLAY: dict[str, str] = {
    "RETAIL_STATE_DIR": "{repo}/.state/test",
    "RETAIL_KAFKA_BOOTSTRAP": "127.0.0.1:19092",
    "RETAIL_KAFKA_CONTROLLER_PORT": "19093",
    "RETAIL_CLICKHOUSE_URL": "http://127.0.0.1:18123",
    # Airflow over HTTPS in the tests: every DAG run (its tasks call the execution API) verifies the CA.
    "RETAIL_AIRFLOW_URL": "https://127.0.0.1:18080",
    "RETAIL_API_URL": "http://127.0.0.1:18000",
    "RETAIL_SUPERSET_URL": "http://127.0.0.1:18088",
}


# The cluster profile on one machine (RETAIL_PROFILE=cluster): the same engines as a cluster runs
# (three Kafka brokers, a Spark standalone master with two workers, Airflow on PostgreSQL), on ports
# and a state folder of their own so it can run beside the local stack and the tests. Any variable
# set in the environment still wins.
CLUSTER_OVERLAY: dict[str, str] = {
    "RETAIL_STATE_DIR": "{repo}/.state/cluster",
    "RETAIL_KAFKA_BOOTSTRAP": "127.0.0.1:29092,127.0.0.1:29094,127.0.0.1:29096",
    "RETAIL_KAFKA_CONTROLLER_PORT": "29193",
    "RETAIL_KAFKA_REPLICATION_FACTOR": "3",
    "RETAIL_KAFKA_MIN_INSYNC_REPLICAS": "2",
    "RETAIL_CLICKHOUSE_URL": "http://127.0.0.1:28123",
    "RETAIL_SPARK_MASTER": "spark://127.0.0.1:27077",
    "RETAIL_SPARK_CORES_MAX": "1",
    # The lake on S3: a loopback endpoint makes `up` run an S3 gateway with its data in the state folder.
    "RETAIL_LAKE_URI": "s3a://retail-lake",
    "RETAIL_S3_ENDPOINT": "http://127.0.0.1:29000",
    "RETAIL_S3_ACCESS_KEY": "retail",
    "RETAIL_S3_SECRET_KEY": "retail-secret",
    "RETAIL_AIRFLOW_URL": "http://127.0.0.1:28080",
    "RETAIL_AIRFLOW_DATABASE_URL": "postgresql+psycopg2://airflow:airflow@127.0.0.1:25432/airflow",
    "RETAIL_API_URL": "http://127.0.0.1:28000",
    "RETAIL_SUPERSET_URL": "http://127.0.0.1:28088",
}


@dataclass(frozen=True)
class Settings:
    profile: str
    state_dir: Path
    deps_dir: Path
    kafka_bootstrap: str
    kafka_controller_port: int
    clickhouse_url: str
    clickhouse_user: str
    clickhouse_password: str
    clickhouse_database: str
    clickhouse_data_dir: Path
    clickhouse_pool_size: int
    lake_uri: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    spark_master: str
    airflow_url: str
    airflow_user: str
    airflow_password: str
    airflow_parallelism: int
    kafka_replication_factor: int = 1
    s3_region: str = "us-east-1"
    kafka_min_insync_replicas: int = 1
    spark_workers: int = 2
    spark_worker_cores: int = 1
    spark_worker_memory: str = "3g"
    spark_cores_max: int = 0
    airflow_database_url: str = ""
    event_max_future_seconds: int = 3600
    event_time_floor: date = date(2000, 1, 1)
    stream_max_event_age_days: int = REALTIME_RETENTION_DAYS
    close_grace_minutes: int = 60
    api_url: str = "http://127.0.0.1:8000"
    api_secret_file: Path = Path(".state/api/token-secret")
    api_stock_max_age_ms: int = 1000
    api_workers: int = 1
    tls_dir: Path = Path(".state/tls")
    superset_url: str = "http://127.0.0.1:8088"
    superset_user: str = "admin"
    superset_password: str = "admin"
    superset_demo_password: str = "retail"
    clickhouse_bi_user: str = "retail_bi"
    kafka_security_protocol: str = "PLAINTEXT"
    clickhouse_bi_password: str = "retail_bi"
    alert_freshness_seconds: int = 900
    alert_stream_lag_seconds: int = 120
    alert_dq_failed_checks: int = 0
    anomaly_stock_tolerance: int = 5
    anomaly_velocity_window_seconds: int = 3600
    anomaly_velocity_factor: float = 3.0
    anomaly_velocity_min_units: int = 20
    source: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    # Derived values: computed, never configured separately, so they cannot disagree.
    @property
    def clickhouse_host(self) -> str:
        return urlparse(self.clickhouse_url).hostname or "127.0.0.1"

    @property
    def clickhouse_port(self) -> int:
        return urlparse(self.clickhouse_url).port or 8123

    @property
    def kafka_host(self) -> str:
        return self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[0]

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])

    @property
    def kafka_nodes(self) -> list[tuple[str, int]]:
        """The brokers of RETAIL_KAFKA_BOOTSTRAP as (host, port): on loopback, the nodes `up` runs."""
        return [
            (part.rsplit(":", 1)[0].strip(), int(part.rsplit(":", 1)[1])) for part in self.kafka_bootstrap.split(",")
        ]

    @property
    def spark_standalone(self) -> tuple[str, int] | None:
        """(host, port) of a spark:// master on loopback, which `up` runs with its workers; else None."""
        parsed = urlparse(self.spark_master)
        if parsed.scheme != "spark" or parsed.hostname not in LOOPBACK_HOSTS:
            return None
        return parsed.hostname, parsed.port or 7077

    @property
    def airflow_postgres(self) -> tuple[str, int] | None:
        """(host, port) of a PostgreSQL metadata database on loopback, which `up` runs; else None."""
        parsed = urlparse(self.airflow_database_url)
        if not parsed.scheme.startswith("postgresql") or parsed.hostname not in LOOPBACK_HOSTS:
            return None
        return parsed.hostname, parsed.port or 5432

    @property
    def kafka_ssl(self) -> bool:
        return self.kafka_security_protocol == "SSL"

    @property
    def airflow_host(self) -> str:
        return urlparse(self.airflow_url).hostname or "127.0.0.1"

    @property
    def airflow_port(self) -> int:
        parsed = urlparse(self.airflow_url)
        return parsed.port or (443 if parsed.scheme == "https" else 8080)

    @property
    def airflow_tls(self) -> bool:
        return self.airflow_url.startswith("https://")

    @property
    def api_host(self) -> str:
        return urlparse(self.api_url).hostname or "127.0.0.1"

    @property
    def api_port(self) -> int:
        parsed = urlparse(self.api_url)
        return parsed.port or (443 if parsed.scheme == "https" else 8000)

    @property
    def api_tls(self) -> bool:
        return self.api_url.startswith("https://")

    @property
    def superset_host(self) -> str:
        return urlparse(self.superset_url).hostname or "127.0.0.1"

    @property
    def superset_port(self) -> int:
        return urlparse(self.superset_url).port or 8088

    @property
    def superset_venv_bin(self) -> Path:
        """Superset's own virtual environment (its pins conflict with Airflow's)."""
        return self.deps_dir / "superset-venv" / "bin"

    @property
    def lake_is_local(self) -> bool:
        return self.lake_uri.startswith("file://")

    @property
    def lake_path(self) -> Path:
        """The lake root as a local path (local profile only)."""
        if not self.lake_is_local:
            raise SettingsError(f"RETAIL_LAKE_URI={self.lake_uri} is not a file:// URI; use the S3 client instead")
        return Path(urlparse(self.lake_uri).path)

    @property
    def venv_bin(self) -> Path:
        return REPO_ROOT / ".venv" / "bin"

    @property
    def kafka_jars(self) -> Path:
        return self.deps_dir / "jars" / "kafka-broker"

    @property
    def s3a_jars(self) -> Path:
        return self.deps_dir / "jars" / "s3a"

    @property
    def versitygw_bin(self) -> Path:
        """The S3 gateway `up` runs for a lake on a loopback S3 endpoint (`make setup-cluster`)."""
        return self.deps_dir / "bin" / "versitygw"

    @property
    def s3_local(self) -> tuple[str, int] | None:
        """(host, port) of a loopback S3 endpoint serving an S3 lake, which `up` runs; else None."""
        parsed = urlparse(self.s3_endpoint)
        if self.lake_is_local or parsed.hostname not in LOOPBACK_HOSTS:
            return None
        return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)

    @property
    def lake_bucket(self) -> str:
        """The bucket of an S3 lake (s3a://bucket/prefix)."""
        return urlparse(self.lake_uri).netloc

    @property
    def spark_jars(self) -> Path:
        return self.deps_dir / "jars" / "spark-connectors"


def _int(env: Mapping[str, str], name: str) -> int:
    raw = env[name]
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer; set it to a whole number or unset it") from None


def _bounded(env: Mapping[str, str], name: str, low: int, high: int) -> int:
    value = _int(env, name)
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} is out of range; set it between {low} and {high}")
    return value


def _bounded_float(env: Mapping[str, str], name: str, low: float, high: float) -> float:
    raw = env[name]
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number; set it to a number such as 2.5 or unset it") from None
    if not low <= value <= high:  # also refuses nan
        raise SettingsError(f"{name}={raw} is out of range; set it between {low:g} and {high:g}")
    return value


def _date(env: Mapping[str, str], name: str) -> date:
    raw = env[name]
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a date; write it as YYYY-MM-DD") from None
    if value.year < 1970:
        raise SettingsError(f"{name}={raw!r}: the warehouse's DateTime starts in 1970; set a later date")
    return value


def _host_port(env: Mapping[str, str], name: str) -> None:
    for part in env[name].split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            raise SettingsError(f"{name}={env[name]!r}: expected host:port[,host:port...]")


def _url(env: Mapping[str, str], name: str) -> None:
    parsed = urlparse(env[name])
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise SettingsError(f"{name}={env[name]!r}: expected an http(s)://host:port URL")


# Characters an account name or password cannot carry: both travel in HTTP headers and URLs, and ':'
# separates them in basic authentication.
_ACCOUNT_NAME_FORBIDDEN = frozenset(":/@?#% \t\r\n")


def _account(values: Mapping[str, str], user_name: str, password_name: str, file_name: str | None) -> tuple[str, str]:
    """A warehouse account's user and password, checked; the password may come from a file."""
    user = values[user_name]
    if not user:
        raise SettingsError(f"{user_name} is empty; set the warehouse user name")
    bad = sorted({ch for ch in user if ch in _ACCOUNT_NAME_FORBIDDEN or not ch.isprintable()})
    if bad:
        raise SettingsError(f"{user_name}={user!r} contains {bad!r}; use letters, digits, '_', '-' or '.'")
    password = values[password_name]
    if file_name and values[file_name]:
        path = Path(values[file_name])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(
                f"{file_name}={str(path)!r} cannot be read ({exc}); point it at a UTF-8 text file"
            ) from None
        password = lines[0] if lines else ""
        if not password:
            raise SettingsError(f"{file_name}={str(path)!r} is empty; write the password on its first line")
    if any(ch in password for ch in "\r\n\x00"):
        raise SettingsError(f"{password_name} contains a line break or NUL; they cannot travel in an HTTP header")
    return user, password


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (``os.environ`` by default) and validate them."""
    source = dict(os.environ if environ is None else environ)
    merged = dict(DEFAULTS)
    if source.get("RETAIL_PROFILE") == "cluster":
        if source.get("RETAIL_SETTINGS", "") == "test":
            raise SettingsError(
                "RETAIL_SETTINGS=test is the local profile's test overlay; the cluster profile has ports and a "
                "state folder of its own: unset RETAIL_SETTINGS or RETAIL_PROFILE"
            )
        merged.update(CLUSTER_OVERLAY)
    if source.get("RETAIL_SETTINGS", "") == "test":
        merged.update(TEST_OVERLAY)
    elif source.get("RETAIL_SETTINGS", "") not in ("", "default"):
        raise SettingsError(f"RETAIL_SETTINGS={source['RETAIL_SETTINGS']!r}: expected 'test' or nothing")
    merged.update({k: v for k, v in source.items() if k in DEFAULTS})

    if merged["RETAIL_PROFILE"] not in PROFILES:
        raise SettingsError(f"RETAIL_PROFILE={merged['RETAIL_PROFILE']!r}: expected one of {', '.join(PROFILES)}")
    state = merged["RETAIL_STATE_DIR"].replace("{repo}", str(REPO_ROOT))
    values = {k: v.replace("{repo}", str(REPO_ROOT)).replace("{state}", state) for k, v in merged.items()}

    _host_port(values, "RETAIL_KAFKA_BOOTSTRAP")
    if values["RETAIL_KAFKA_SECURITY_PROTOCOL"] not in ("PLAINTEXT", "SSL"):
        raise SettingsError(
            f"RETAIL_KAFKA_SECURITY_PROTOCOL={values['RETAIL_KAFKA_SECURITY_PROTOCOL']!r}: expected PLAINTEXT or SSL"
        )
    _url(values, "RETAIL_CLICKHOUSE_URL")
    _url(values, "RETAIL_AIRFLOW_URL")
    _url(values, "RETAIL_API_URL")
    _url(values, "RETAIL_SUPERSET_URL")
    for name in ("RETAIL_SUPERSET_USER", "RETAIL_SUPERSET_PASSWORD", "RETAIL_SUPERSET_DEMO_PASSWORD"):
        if not values[name]:
            raise SettingsError(f"{name} is empty; set a Superset login (user name and passwords may not be empty)")
    etl_user, etl_password = _account(values, "RETAIL_CLICKHOUSE_USER", "RETAIL_CLICKHOUSE_PASSWORD", None)
    bi_user, bi_password = _account(
        values, "RETAIL_CLICKHOUSE_BI_USER", "RETAIL_CLICKHOUSE_BI_PASSWORD", "RETAIL_CLICKHOUSE_BI_PASSWORD_FILE"
    )
    if bi_user == etl_user:
        raise SettingsError(
            f"RETAIL_CLICKHOUSE_BI_USER={bi_user!r} is also RETAIL_CLICKHOUSE_USER; the read-only BI account needs "
            "its own user name"
        )
    if not bi_password:
        raise SettingsError("RETAIL_CLICKHOUSE_BI_PASSWORD is empty; set a password for the read-only BI account")
    replicas = _bounded(values, "RETAIL_KAFKA_REPLICATION_FACTOR", 1, 32)
    insync = _bounded(values, "RETAIL_KAFKA_MIN_INSYNC_REPLICAS", 1, 32)
    if insync > replicas:
        raise SettingsError(
            f"RETAIL_KAFKA_MIN_INSYNC_REPLICAS={insync} exceeds RETAIL_KAFKA_REPLICATION_FACTOR={replicas}: no write "
            "could ever be acknowledged; set it to at most the replication factor"
        )
    if not re.fullmatch(r"[1-9][0-9]*[mg]", values["RETAIL_SPARK_WORKER_MEMORY"]):
        raise SettingsError(
            f"RETAIL_SPARK_WORKER_MEMORY={values['RETAIL_SPARK_WORKER_MEMORY']!r}: expected a size such as 1536m or 3g"
        )
    airflow_db = values["RETAIL_AIRFLOW_DATABASE_URL"]
    if not airflow_db.startswith(("sqlite:///", "postgresql+psycopg2://", "postgresql://")):
        raise SettingsError(
            f"RETAIL_AIRFLOW_DATABASE_URL={airflow_db!r}: expected sqlite:////path/airflow.db or "
            "postgresql+psycopg2://user:password@host:port/database"
        )
    lake = values["RETAIL_LAKE_URI"]
    if not lake.startswith(("file://", "s3a://", "s3://")):
        raise SettingsError(f"RETAIL_LAKE_URI={lake!r}: expected file:///path or s3a://bucket")
    if lake.startswith(("s3a://", "s3://")) and not values["RETAIL_S3_ENDPOINT"]:
        raise SettingsError("RETAIL_LAKE_URI is an S3 URI but RETAIL_S3_ENDPOINT is empty; set the S3 endpoint URL")
    if lake.startswith(("s3a://", "s3://")):
        _url(values, "RETAIL_S3_ENDPOINT")
        if not urlparse(lake).netloc:
            raise SettingsError(f"RETAIL_LAKE_URI={lake!r} names no bucket; write it as s3a://bucket[/prefix]")
        for name in ("RETAIL_S3_ACCESS_KEY", "RETAIL_S3_SECRET_KEY", "RETAIL_S3_REGION"):
            if not values[name]:
                raise SettingsError(
                    f"RETAIL_LAKE_URI is on S3 but {name} is empty; set it for the object store at RETAIL_S3_ENDPOINT"
                )

    return Settings(
        profile=values["RETAIL_PROFILE"],
        state_dir=Path(state),
        deps_dir=Path(values["RETAIL_DEPS_DIR"]),
        kafka_bootstrap=values["RETAIL_KAFKA_BOOTSTRAP"],
        kafka_controller_port=_int(values, "RETAIL_KAFKA_CONTROLLER_PORT"),
        clickhouse_url=values["RETAIL_CLICKHOUSE_URL"].rstrip("/"),
        clickhouse_user=etl_user,
        clickhouse_password=etl_password,
        clickhouse_database=values["RETAIL_CLICKHOUSE_DATABASE"],
        clickhouse_data_dir=Path(values["RETAIL_CLICKHOUSE_DATA_DIR"]),
        clickhouse_pool_size=_int(values, "RETAIL_CLICKHOUSE_POOL_SIZE"),
        lake_uri=lake.rstrip("/"),
        s3_endpoint=values["RETAIL_S3_ENDPOINT"],
        s3_access_key=values["RETAIL_S3_ACCESS_KEY"],
        s3_secret_key=values["RETAIL_S3_SECRET_KEY"],
        s3_region=values["RETAIL_S3_REGION"],
        spark_master=values["RETAIL_SPARK_MASTER"],
        airflow_url=values["RETAIL_AIRFLOW_URL"].rstrip("/"),
        airflow_user=values["RETAIL_AIRFLOW_USER"],
        airflow_password=values["RETAIL_AIRFLOW_PASSWORD"],
        airflow_parallelism=_int(values, "RETAIL_AIRFLOW_PARALLELISM"),
        kafka_replication_factor=replicas,
        kafka_min_insync_replicas=insync,
        spark_workers=_bounded(values, "RETAIL_SPARK_WORKERS", 0, 16),
        spark_worker_cores=_bounded(values, "RETAIL_SPARK_WORKER_CORES", 1, 256),
        spark_worker_memory=values["RETAIL_SPARK_WORKER_MEMORY"],
        spark_cores_max=_bounded(values, "RETAIL_SPARK_CORES_MAX", 0, 4096),
        airflow_database_url=airflow_db,
        event_max_future_seconds=_bounded(values, "RETAIL_EVENT_MAX_FUTURE_SECONDS", 0, 7 * 86400),
        event_time_floor=_date(values, "RETAIL_EVENT_TIME_FLOOR"),
        # Not more than the real-time tables keep: an older event would be inserted and deleted at once.
        stream_max_event_age_days=_bounded(values, "RETAIL_STREAM_MAX_EVENT_AGE_DAYS", 1, REALTIME_RETENTION_DAYS),
        close_grace_minutes=_bounded(values, "RETAIL_CLOSE_GRACE_MINUTES", 0, 24 * 60),
        api_url=values["RETAIL_API_URL"].rstrip("/"),
        api_secret_file=Path(values["RETAIL_API_SECRET_FILE"]),
        api_stock_max_age_ms=_bounded(values, "RETAIL_API_STOCK_MAX_AGE_MS", 0, 60_000),
        api_workers=_bounded(values, "RETAIL_API_WORKERS", 1, 64),
        tls_dir=Path(values["RETAIL_TLS_DIR"]),
        superset_url=values["RETAIL_SUPERSET_URL"].rstrip("/"),
        superset_user=values["RETAIL_SUPERSET_USER"],
        superset_password=values["RETAIL_SUPERSET_PASSWORD"],
        superset_demo_password=values["RETAIL_SUPERSET_DEMO_PASSWORD"],
        clickhouse_bi_user=bi_user,
        kafka_security_protocol=values["RETAIL_KAFKA_SECURITY_PROTOCOL"],
        clickhouse_bi_password=bi_password,
        alert_freshness_seconds=_bounded(values, "RETAIL_ALERT_FRESHNESS_SECONDS", 1, 7 * 86400),
        alert_stream_lag_seconds=_bounded(values, "RETAIL_ALERT_STREAM_LAG_SECONDS", 1, 86400),
        alert_dq_failed_checks=_bounded(values, "RETAIL_ALERT_DQ_FAILED_CHECKS", 0, 10_000),
        anomaly_stock_tolerance=_bounded(values, "RETAIL_ANOMALY_STOCK_TOLERANCE", 0, 1_000_000),
        anomaly_velocity_window_seconds=_bounded(values, "RETAIL_ANOMALY_VELOCITY_WINDOW_SECONDS", 10, 86_400),
        anomaly_velocity_factor=_bounded_float(values, "RETAIL_ANOMALY_VELOCITY_FACTOR", 1.0, 1000.0),
        anomaly_velocity_min_units=_bounded(values, "RETAIL_ANOMALY_VELOCITY_MIN_UNITS", 1, 1_000_000),
        source={k: values[k] for k in DEFAULTS},
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once, on first use, never at import time)."""
    return load_settings()


def setting_names() -> list[str]:
    """Every environment variable the platform reads."""
    return sorted(DEFAULTS) + ["RETAIL_SETTINGS"]


__all__ = ["Settings", "SettingsError", "get_settings", "load_settings", "setting_names"]
