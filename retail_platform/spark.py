"""Spark sessions built from settings: master, connector jars and lake credentials in one place."""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse

from pyspark.sql import SparkSession

from retail_platform.settings import Settings, get_settings


def connector_jars(settings: Settings) -> list[str]:
    jars = sorted(str(p) for p in settings.spark_jars.glob("*.jar"))
    if not jars:
        raise RuntimeError(f"no Spark connector jars in {settings.spark_jars}; run `make setup`")
    return jars


def lake_jars(settings: Settings) -> list[str]:
    """The S3A file system's jars for a lake on S3 (``make setup-cluster``); none for a file:// lake.
    They go on the driver's and executors' class path, not spark.jars (a 700 MB SDK bundle would be
    copied to every executor of every job)."""
    if settings.lake_is_local:
        return []
    jars = sorted(str(p) for p in settings.s3a_jars.glob("*.jar"))
    if not jars:
        raise RuntimeError(
            f"RETAIL_LAKE_URI={settings.lake_uri} is on S3 but {settings.s3a_jars} has no S3A jars; "
            "run `make setup-cluster`"
        )
    return jars


def lake_conf(settings: Settings) -> dict[str, str]:
    """Spark settings of the lake's file system: S3A's endpoint, credentials and class path (empty for
    a file:// lake)."""
    s = settings
    if s.lake_is_local:
        return {}
    endpoint = urlparse(s.s3_endpoint)
    return {
        "spark.executor.extraClassPath": ":".join(lake_jars(s)),
        "spark.hadoop.fs.s3a.endpoint": s.s3_endpoint,
        # Without a region S3A signs for another one and a single-region store answers HTTP 400.
        "spark.hadoop.fs.s3a.endpoint.region": s.s3_region,
        "spark.hadoop.fs.s3a.access.key": s.s3_access_key,
        "spark.hadoop.fs.s3a.secret.key": s.s3_secret_key,
        # A store at one host name (no bucket sub-domains), plain HTTP when the endpoint says so.
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": str(endpoint.scheme == "https").lower(),
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
    }


def session(app_name: str, settings: Settings | None = None, **conf: str) -> SparkSession:
    s = settings or get_settings()
    builder = (
        SparkSession.builder.appName(app_name)
        .master(s.spark_master)
        .config("spark.jars", ",".join(connector_jars(s)))
        .config("spark.sql.session.timeZone", "UTC")
        # Two cores: the default 200 shuffle partitions would mean 200 tiny tasks per stage.
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.showConsoleProgress", "false")
        # Lake tables are Delta Lake tables (ACID appends, MERGE, time travel, OPTIMIZE).
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
    )
    if s.spark_master.startswith("local") or s.spark_standalone is not None:
        # One machine: keep the driver on loopback rather than whatever the hostname resolves to (a
        # standalone master on loopback has its workers there too; they call the driver back).
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    if s.spark_cores_max:
        # A standalone master gives an application every free core by default: the always-on stream
        # would leave none to the daily jobs.
        builder = builder.config("spark.cores.max", str(s.spark_cores_max))
    for key, value in lake_conf(s).items():
        builder = builder.config(key, value)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def job_session(
    app_name: str, settings: Settings | None = None, *, driver_memory: str | None = None, **conf: str
) -> SparkSession:
    """The session of a job in ``spark_jobs/``, started by spark-submit (the DAGs) or as
    ``python -m spark_jobs.<job>``. Under ``python -m`` the JVM is started here: the connectors must be
    on the driver's classpath when it starts, and the Python workers must run this interpreter (the
    virtualenv has pyarrow; the system Python may not). The Spark UI is off unless ``conf`` turns it on."""
    s = settings or get_settings()
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not launched by spark-submit
        memory = ["--driver-memory", driver_memory] if driver_memory else []
        os.environ.setdefault("PYSPARK_SUBMIT_ARGS", " ".join([*submit_args(s), *memory, "pyspark-shell"]))
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return session(app_name, s, **{"spark.ui.enabled": "false", **conf})


def submit_args(settings: Settings | None = None) -> list[str]:
    """Options for `spark-submit`: connectors must be on the driver's classpath when the JVM
    starts (setting spark.jars later in the session builder only ships them to executors)."""
    s = settings or get_settings()
    lake = lake_jars(s)
    classpath = ["--driver-class-path", ":".join(lake)] if lake else []
    return ["--master", s.spark_master, "--jars", ",".join(connector_jars(s)), *classpath]


def submit_env(settings: Settings | None = None) -> dict[str, str]:
    """Environment for pyspark's `spark-submit`: it locates Spark and Python through PATH, so the
    virtual environment must come first (Airflow's processes get the same PATH)."""
    import pyspark

    s = settings or get_settings()
    return {
        **os.environ,
        "PATH": f"{s.venv_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "SPARK_HOME": os.path.dirname(pyspark.__file__),
        "PYSPARK_PYTHON": sys.executable,
        **({"SPARK_LOCAL_IP": "127.0.0.1"} if s.spark_master.startswith("local") or s.spark_standalone else {}),
    }
