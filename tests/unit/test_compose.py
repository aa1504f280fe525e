"""Structure of docker-compose.yml (the compose profile). Parsing only: no Docker engine is needed
(or available here), so these checks are what keeps the file honest."""

from __future__ import annotations

import ast
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from retail_platform.orchestration.connections import kafka_bootstrap
from retail_platform.settings import DEFAULTS, REPO_ROOT, load_settings, setting_names

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
COMPOSE = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
SERVICES: dict[str, dict] = COMPOSE["services"]

# Services that run the platform's own code (DAG tasks, Spark jobs, init steps).
PLATFORM_SERVICES = {
    "platform-init",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "spark-master",
    "spark-worker",
    "inventory-api",
    "superset-init",  # provisions Superset from the platform's settings and BI catalog
}
# The only host ports: UIs a person opens (and the HTTP endpoint BI tools use), container port -> why.
UI_PORTS = {
    "airflow-apiserver": {8080},  # Airflow UI
    "spark-master": {8080},  # Spark master UI
    "minio": {9001},  # MinIO console
    "clickhouse": {8123},  # /play UI and BI connections
    "inventory-api": {8000},  # the inventory API its clients call
    "superset": {8088},  # the dashboards
}
EXPECTED = {
    "RETAIL_PROFILE": "compose",
    "RETAIL_KAFKA_BOOTSTRAP": "kafka:9092",
    "RETAIL_CLICKHOUSE_URL": "http://clickhouse:8123",
    "RETAIL_LAKE_URI": "s3a://retail-lake",
    "RETAIL_S3_ENDPOINT": "http://minio:9000",
    "RETAIL_SPARK_MASTER": "spark://spark-master:7077",
}
CODE_MOUNTS = ("retail_platform", "spark_jobs", "sql", "dags", "plugins")
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
_FLOATING_TAGS = {"latest", "stable", "lts", "edge", "nightly", "head", "main", "master"}


def _resolve(value: object) -> str:
    """What compose would substitute with an empty .env: ${VAR:-default} -> default, $$ -> $."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", str(value)).replace("$$", "$")


def _env(service: str) -> dict[str, str]:
    raw = SERVICES[service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: _resolve(value) for key, value in raw.items()}


def _mounts(service: str) -> dict[str, str]:
    """Bind mounts of a service: source folder name (relative to the repo) -> container path."""
    mounts = {}
    for volume in SERVICES[service].get("volumes") or []:
        source, target = str(volume).split(":")[:2]
        if source.startswith("./"):
            mounts[source[2:]] = target
    return mounts


def _image_tag(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    assert "@sha256:" in image or ":" in name, f"{image}: pin a version tag"
    return name.split("@")[0].split(":", 1)[1] if ":" in name else "digest"


def test_compose_file_says_it_is_not_run_here():
    head = COMPOSE_FILE.read_text(encoding="utf-8")[:1200]
    assert "no Docker engine" in head


def test_every_component_of_the_profile_is_present():
    expected = PLATFORM_SERVICES | {"kafka", "minio", "minio-init", "clickhouse", "postgres", "superset"}
    assert expected <= set(SERVICES)


def test_platform_services_are_exactly_those_mounting_the_code():
    mounting = {name for name in SERVICES if "retail_platform" in _mounts(name)}
    assert mounting == PLATFORM_SERVICES


@pytest.mark.parametrize("service", sorted(PLATFORM_SERVICES))
def test_platform_services_get_every_setting_the_code_reads(service):
    env = _env(service)
    missing = [name for name in setting_names() if name not in env]
    assert not missing, f"{service} lacks {missing}"
    for name, value in EXPECTED.items():
        assert env[name] == value, f"{service}: {name}={env[name]!r}, expected {value!r}"
    settings = load_settings({k: v for k, v in env.items() if k in DEFAULTS or k == "RETAIL_SETTINGS"})
    assert settings.profile == "compose"
    assert not settings.lake_is_local
    assert settings.s3_access_key and settings.s3_secret_key
    assert env["PYTHONPATH"] == "/opt/retail"


def test_platform_services_share_one_environment_through_an_anchor():
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert "&retail-env" in text
    reference = {k: v for k, v in _env("spark-master").items() if k.startswith("RETAIL_")}
    for service in PLATFORM_SERVICES:
        assert {k: v for k, v in _env(service).items() if k.startswith("RETAIL_")} == reference, service


def test_every_service_is_health_checked_or_waits_on_conditions():
    for name, service in SERVICES.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: use depends_on with conditions, not a bare list"
        for target, spec in depends.items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            assert spec.get("condition") in ("service_healthy", "service_completed_successfully"), (name, target)
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{name} waits for {target}, which has no healthcheck"
        assert "healthcheck" in service or depends, f"{name}: add a healthcheck or depends_on with conditions"
        if service.get("restart") == "no":
            continue  # one-shot init containers exit; they are waited on with service_completed_successfully
        assert "healthcheck" in service, f"{name} is long-running: give it a healthcheck"


def test_images_are_pinned_to_version_tags():
    for name, service in SERVICES.items():
        assert "image" in service, f"{name}: name the image (with a tag) even when it is built"
        tag = _image_tag(service["image"])
        assert tag.lower() not in _FLOATING_TAGS and re.search(r"\d", tag), f"{name}: {service['image']} floats"
    for dockerfile in (REPO_ROOT / "infra" / "compose").rglob("Dockerfile"):
        for line in dockerfile.read_text(encoding="utf-8").splitlines():
            if line.startswith("FROM "):
                tag = _image_tag(line.split()[1])
                assert tag.lower() not in _FLOATING_TAGS and re.search(r"\d", tag), f"{dockerfile}: {line}"


def test_images_match_the_versions_the_local_profile_uses():
    requirements = (REPO_ROOT / "requirements.txt").read_text(encoding="utf-8")
    pyspark = re.search(r"^pyspark==(\S+)$", requirements, re.MULTILINE).group(1)
    airflow = re.search(r"^apache-airflow==(\S+)$", requirements, re.MULTILINE).group(1)
    kafka_pom = (REPO_ROOT / "infra" / "maven" / "kafka-broker" / "pom.xml").read_text(encoding="utf-8")
    kafka = re.search(r"<kafka.version>([^<]+)</kafka.version>", kafka_pom).group(1)
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{kafka}"
    for spark in ("spark-master", "spark-worker"):
        assert SERVICES[spark]["image"].startswith(f"apache/spark:{pyspark}"), "driver and cluster must match"
    dockerfile = (REPO_ROOT / "infra" / "compose" / "airflow" / "Dockerfile").read_text(encoding="utf-8")
    assert f"FROM apache/airflow:{airflow}-" in dockerfile


def test_ports_are_published_only_for_user_interfaces():
    for name, service in SERVICES.items():
        ports = service.get("ports") or []
        if name not in UI_PORTS:
            assert not ports, f"{name} publishes {ports}: only UIs are published; use the compose network"
            continue
        for port in ports:
            host_ip, _host_port, container_port = str(port).split(":")
            assert host_ip == "127.0.0.1", f"{name}: bind published ports to localhost"
            assert int(container_port) in UI_PORTS[name]


def test_platform_code_is_mounted_where_settings_expect_it():
    for service in PLATFORM_SERVICES:
        mounts = _mounts(service)
        for folder in CODE_MOUNTS:
            assert mounts.get(folder) == f"/opt/retail/{folder}", f"{service}: mount ./{folder}"
    env = _env("airflow-scheduler")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/retail/dags"
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/retail/plugins"


def test_airflow_runs_every_component_on_postgres():
    commands = {json.dumps(SERVICES[s].get("command")) for s in SERVICES if s.startswith("airflow-")}
    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert any(component in c for c in commands), f"no service runs airflow {component}"
    assert any("airflow db migrate" in c for c in commands)
    for service in PLATFORM_SERVICES - {"spark-master", "spark-worker", "superset-init"}:
        env = _env(service)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def test_airflow_connections_point_at_the_compose_services():
    env = _env("airflow-scheduler")
    spark = json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert spark == {"conn_type": "spark", "host": env["RETAIL_SPARK_MASTER"]}
    clickhouse = json.loads(env["AIRFLOW_CONN_CLICKHOUSE_DEFAULT"])
    # The official providers' connection types, as the local runtime defines them.
    assert clickhouse["conn_type"] == "clickhouse"
    kafka = json.loads(env["AIRFLOW_CONN_KAFKA_DEFAULT"])
    assert kafka["conn_type"] == "kafka"
    assert kafka_bootstrap(kafka["extra"]) == env["RETAIL_KAFKA_BOOTSTRAP"]
    assert f"http://{clickhouse['host']}:{clickhouse['port']}" == env["RETAIL_CLICKHOUSE_URL"]
    assert clickhouse["login"] == env["RETAIL_CLICKHOUSE_USER"]
    assert clickhouse["password"] == env["RETAIL_CLICKHOUSE_PASSWORD"]
    assert clickhouse["schema"] == env["RETAIL_CLICKHOUSE_DATABASE"]


def test_clickhouse_users_config_gives_the_platform_user_and_password():
    mounts = _mounts("clickhouse")
    users_file = "infra/compose/clickhouse/users.d/retail.xml"
    assert mounts[users_file].startswith("/etc/clickhouse-server/users.d/")
    users = ET.parse(REPO_ROOT / users_file).getroot().find("users")
    platform = _env("platform-init")
    user = users.find(platform["RETAIL_CLICKHOUSE_USER"])
    assert user is not None, "users.xml must define the user the platform logs in as"
    assert user.find("password").get("from_env") == "RETAIL_CLICKHOUSE_PASSWORD"
    assert _env("clickhouse")["RETAIL_CLICKHOUSE_PASSWORD"] == platform["RETAIL_CLICKHOUSE_PASSWORD"]


def test_minio_credentials_and_bucket_match_the_lake_settings():
    platform = _env("platform-init")
    minio = _env("minio")
    assert minio["MINIO_ROOT_USER"] == platform["RETAIL_S3_ACCESS_KEY"]
    assert minio["MINIO_ROOT_PASSWORD"] == platform["RETAIL_S3_SECRET_KEY"]
    assert len(minio["MINIO_ROOT_PASSWORD"]) >= 8, "MinIO refuses root passwords shorter than 8 characters"
    bucket = platform["RETAIL_LAKE_URI"].split("://", 1)[1]
    assert f"lake/{bucket}" in json.dumps(SERVICES["minio-init"]["command"])


def _defines(module_file: Path, function: str) -> bool:
    # Read, not imported: importing the Kafka client only to check a name is slow and noisy.
    tree = ast.parse(module_file.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == function for node in tree.body)


def test_platform_init_calls_code_that_exists():
    command = json.dumps(SERVICES["platform-init"]["command"])
    assert "python -m retail_platform.warehouse.migrations up" in command
    assert _defines(REPO_ROOT / "retail_platform" / "warehouse" / "migrations.py", "main")
    assert "from retail_platform.runtime.kafka_broker import ensure_topics" in command
    assert _defines(REPO_ROOT / "retail_platform" / "runtime" / "kafka_broker.py", "ensure_topics")


def test_build_context_sends_only_what_the_dockerfile_needs():
    build = SERVICES["airflow-scheduler"]["build"]
    dockerfile = Path(build["dockerfile"])
    ignore = (REPO_ROOT / dockerfile).with_name(dockerfile.name + ".dockerignore")
    lines = [line for line in ignore.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*", "exclude everything (.venv is 1.6 GB), then re-include what COPY uses"


def _literals(source: str) -> dict[str, object]:
    """Top-level NAME = <literal> assignments of a Python config file."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                found[node.targets[0].id] = ast.unparse(node.value)
    return found


def test_superset_runs_on_postgres_with_the_local_profiles_options(tmp_path):
    from retail_platform.runtime.superset import Superset

    for name in ("superset", "superset-init"):
        env = _env(name)
        assert env["SUPERSET_DATABASE_URI"].startswith("postgresql+psycopg2://superset:"), name
        assert env["SUPERSET_DATABASE_URI"].endswith("@postgres:5432/superset"), name
        assert env["SUPERSET_CONFIG_PATH"] == "/etc/superset/superset_config.py", name
    assert _env("postgres")["SUPERSET_DB_PASSWORD"] in _env("superset")["SUPERSET_DATABASE_URI"]
    assert _mounts("postgres")["infra/compose/postgres/superset.sh"].startswith("/docker-entrypoint-initdb.d/")
    compose_config = _literals((REPO_ROOT / "infra/compose/superset/superset_config.py").read_text(encoding="utf-8"))
    local = Superset(load_settings({"RETAIL_STATE_DIR": str(tmp_path)}))
    local.home.mkdir(parents=True)
    local._write_config()
    local_config = _literals(local.config_path.read_text(encoding="utf-8"))
    per_profile = {"SECRET_KEY", "SQLALCHEMY_DATABASE_URI"}
    assert set(compose_config) == set(local_config)
    assert {k: v for k, v in compose_config.items() if k not in per_profile} == {
        k: v for k, v in local_config.items() if k not in per_profile
    }


def test_superset_init_provisions_with_code_that_exists():
    command = json.dumps(SERVICES["superset-init"]["command"])
    assert "python -m retail_platform.bi.provisioning" in command
    assert _defines(REPO_ROOT / "retail_platform" / "bi" / "provisioning.py", "main")
    assert "/opt/retail/infra/superset/provision.py" in command
    assert _mounts("superset-init")["infra/superset"] == "/opt/retail/infra/superset"
    assert SERVICES["superset"]["depends_on"]["superset-init"]["condition"] == "service_completed_successfully"


def _compose_settings():
    env = _env("spark-master")
    return load_settings({k: v for k, v in env.items() if k in DEFAULTS or k == "RETAIL_SETTINGS"})


def test_kafka_replication_fits_the_brokers_compose_runs():
    """What the cluster profile enforces at `up` (no more replicas than brokers; internal topics as many
    as the brokers allow), checked here since compose cannot be started."""
    settings = _compose_settings()
    brokers = [name for name, svc in SERVICES.items() if str(svc.get("image", "")).startswith("apache/kafka:")]
    assert settings.kafka_replication_factor <= len(brokers)
    assert settings.kafka_min_insync_replicas <= settings.kafka_replication_factor
    for broker in brokers:
        env = _env(broker)
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == len(brokers)
        assert int(env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) == min(settings.kafka_min_insync_replicas, len(brokers))
    assert settings.kafka_bootstrap.count(",") + 1 == len(brokers)


def test_spark_services_run_the_classes_the_cluster_profile_runs():
    from retail_platform.runtime.spark_cluster import MASTER_CLASS, WORKER_CLASS

    settings = _compose_settings()
    master, worker = SERVICES["spark-master"]["command"], SERVICES["spark-worker"]["command"]
    assert master[0].endswith("/spark-class") and master[1] == MASTER_CLASS
    assert worker[0].endswith("/spark-class") and worker[1:3] == [WORKER_CLASS, settings.spark_master]


def test_airflow_uses_the_database_url_of_the_settings():
    settings = _compose_settings()
    for service in PLATFORM_SERVICES - {"spark-master", "spark-worker", "superset-init"}:
        assert _env(service)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == settings.airflow_database_url, service
