"""The cluster profile's settings and the configuration of the services `up` runs for it (three KRaft
brokers, a Spark standalone master and workers). Starting them is tests/cluster's job."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform import lake_store, spark
from retail_platform.runtime import process, stack
from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.kafka_broker import KafkaBroker
from retail_platform.runtime.object_store import ObjectStore
from retail_platform.runtime.spark_cluster import SparkCluster
from retail_platform.settings import REPO_ROOT, SettingsError, load_settings

CLUSTER = {"RETAIL_PROFILE": "cluster"}


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_cluster_overlay_has_its_own_state_and_ports():
    local, cluster, test = load_settings({}), load_settings(CLUSTER), load_settings({"RETAIL_SETTINGS": "test"})
    assert cluster.state_dir == REPO_ROOT / ".state" / "cluster"
    assert len(cluster.kafka_nodes) == 3
    assert (cluster.kafka_replication_factor, cluster.kafka_min_insync_replicas) == (3, 2)
    assert cluster.spark_standalone == ("127.0.0.1", 27077) and local.spark_standalone is None
    assert cluster.airflow_postgres == ("127.0.0.1", 25432) and local.airflow_postgres is None
    assert local.airflow_database_url == f"sqlite:///{REPO_ROOT}/.state/airflow/airflow.db"

    def ports(s):
        return {
            *(port for _, port in s.kafka_nodes),
            *(s.kafka_controller_port + i for i in range(len(s.kafka_nodes))),
            s.clickhouse_port,
            s.airflow_port,
            s.api_port,
            s.superset_port,
        }

    # The cluster can run beside the local stack and the tests.
    assert ports(cluster).isdisjoint(ports(local)) and ports(cluster).isdisjoint(ports(test))


def test_environment_wins_over_the_cluster_overlay():
    s = load_settings({**CLUSTER, "RETAIL_KAFKA_REPLICATION_FACTOR": "2", "RETAIL_SPARK_WORKERS": "3"})
    assert s.kafka_replication_factor == 2 and s.spark_workers == 3


def test_the_test_overlay_is_refused_on_the_cluster_profile():
    with pytest.raises(SettingsError, match="RETAIL_SETTINGS=test is the local profile's test overlay"):
        load_settings({**CLUSTER, "RETAIL_SETTINGS": "test"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RETAIL_KAFKA_REPLICATION_FACTOR": "0"}, "RETAIL_KAFKA_REPLICATION_FACTOR=0 is out of range"),
        ({"RETAIL_KAFKA_MIN_INSYNC_REPLICAS": "2"}, "RETAIL_KAFKA_MIN_INSYNC_REPLICAS=2 exceeds"),
        ({"RETAIL_SPARK_WORKER_MEMORY": "3 GB"}, "RETAIL_SPARK_WORKER_MEMORY"),
        ({"RETAIL_SPARK_WORKERS": "-1"}, "RETAIL_SPARK_WORKERS=-1 is out of range"),
        ({"RETAIL_SPARK_CORES_MAX": "all"}, "RETAIL_SPARK_CORES_MAX"),
        ({"RETAIL_AIRFLOW_DATABASE_URL": "mysql://a@b/c"}, "RETAIL_AIRFLOW_DATABASE_URL"),
    ],
)
def test_bad_cluster_settings_name_the_setting(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


@given(st.text(max_size=10))
def test_worker_memory_is_a_spark_size_or_a_named_error(raw):
    try:
        value = load_settings({"RETAIL_SPARK_WORKER_MEMORY": raw}).spark_worker_memory
    except SettingsError as exc:
        assert "RETAIL_SPARK_WORKER_MEMORY" in str(exc)
    else:
        assert value == raw and raw[-1] in "mg" and int(raw[:-1]) > 0


def test_three_brokers_form_one_quorum_with_their_own_listeners_and_folders():
    s = load_settings(CLUSTER)
    broker = KafkaBroker(s)
    assert [n.node_id for n in broker.nodes] == [1, 2, 3]
    assert len({n.home for n in broker.nodes}) == 3
    voters = "1@127.0.0.1:29193,2@127.0.0.1:29194,3@127.0.0.1:29195"
    for node, port, ctrl in zip(broker.nodes, (29092, 29094, 29096), (29193, 29194, 29195), strict=True):
        props = _props(broker.server_properties(node))
        assert props["node.id"] == str(node.node_id)
        assert props["controller.quorum.voters"] == voters
        assert props["listeners"] == f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctrl}"
        assert props["log.dirs"] == str(node.data)
        # Internal topics survive a broker's loss like the platform's own.
        assert props["offsets.topic.replication.factor"] == "3"
        assert props["transaction.state.log.min.isr"] == "2"
        assert props["min.insync.replicas"] == "2"
    assert sorted(broker.ports()) == [29092, 29094, 29096, 29193, 29194, 29195]
    specs = broker.processes(Path("/tmp/run"))
    assert [spec.name for spec in specs] == ["kafka-1", "kafka-2", "kafka-3"]


def test_one_broker_keeps_its_folder_and_process_name():
    s = load_settings({})
    broker = KafkaBroker(s)
    assert broker.data == s.state_dir / "kafka" / "data"
    assert [spec.name for spec in broker.processes(Path("/tmp/run"))] == ["kafka"]
    props = _props(broker.server_properties())
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["offsets.topic.replication.factor"] == "1"


def test_more_replicas_than_brokers_is_refused_before_anything_starts(tmp_path):
    s = load_settings({**CLUSTER, "RETAIL_STATE_DIR": str(tmp_path), "RETAIL_KAFKA_BOOTSTRAP": "127.0.0.1:29092"})
    broker = KafkaBroker(s)
    if not any(s.kafka_jars.glob("kafka_2.13-*.jar")):
        pytest.skip("Kafka jars not resolved (run `make setup`)")
    with pytest.raises(RuntimeStartError, match="RETAIL_KAFKA_REPLICATION_FACTOR=3 needs as many brokers"):
        broker.prepare()


def test_spark_standalone_master_and_workers():
    s = load_settings(CLUSTER)
    cluster = SparkCluster(s)
    specs = cluster.processes(Path("/tmp/run"))
    assert [spec.name for spec in specs] == ["spark-master", "spark-worker-1", "spark-worker-2"]
    master, *workers = specs
    assert master.argv[1:] == [
        "org.apache.spark.deploy.master.Master",
        "--host",
        "127.0.0.1",
        "--port",
        "27077",
        "--webui-port",
        "27078",
    ]
    for i, worker in enumerate(workers):
        argv = list(worker.argv)
        assert argv[1:3] == ["org.apache.spark.deploy.worker.Worker", "spark://127.0.0.1:27077"]
        assert argv[argv.index("--cores") + 1] == "1" and argv[argv.index("--memory") + 1] == "3g"
        assert argv[argv.index("--webui-port") + 1] == str(27079 + i)
    assert master.env["PYTHONPATH"] == str(REPO_ROOT)
    assert len(set(cluster.ports())) == len(cluster.ports())


def test_a_remote_or_local_master_runs_no_standalone_cluster():
    for master in ("local[2]", "spark://spark-master:7077"):
        s = load_settings({"RETAIL_SPARK_MASTER": master})
        assert s.spark_standalone is None
        with pytest.raises(RuntimeStartError, match="not a spark:// master on this machine"):
            SparkCluster(s)
        assert "spark" not in [svc.name for svc in stack.services(s)]


def test_cluster_services_and_their_order():
    s = load_settings(CLUSTER)
    names = [svc.name for svc in stack.services(s)]
    assert names.index("spark") < names.index("stream")
    assert "spark" in next(svc for svc in stack.services(s) if svc.name == "stream").needs
    # `up --only stream` brings what the stream needs, the cluster's Spark included.
    assert {svc.name for svc in stack.services(s, ("stream",))} >= {"warehouse", "kafka", "spark", "stream"}
    local = [svc.name for svc in stack.services(load_settings({}), ("stream",))]
    assert "spark" not in local


def test_up_claims_only_the_ports_of_the_nodes_that_are_down(tmp_path):
    s = load_settings({**CLUSTER, "RETAIL_STATE_DIR": str(tmp_path)})
    broker = KafkaBroker(s)
    runs = stack.run_dir(s)
    assert stack._ports_to_claim(broker, runs) == set(broker.ports())
    # Node 1 runs (its pid file names a live process: this one): its ports are its own, not a foreign program's.
    first = broker.processes(runs)[0]
    runs.mkdir(parents=True)
    first.pid_file.write_text(f"{os.getpid()} {process._start_ticks(os.getpid())}")
    assert stack._ports_to_claim(broker, runs) == set(broker.ports()) - {29092, 29193}


def test_the_cluster_lake_is_on_a_local_s3_gateway():
    s = load_settings(CLUSTER)
    assert (s.lake_uri, s.lake_bucket, s.s3_local) == ("s3a://retail-lake", "retail-lake", ("127.0.0.1", 29000))
    names = [svc.name for svc in stack.services(s)]
    assert names.index("s3") < names.index("stream")
    assert "s3" in next(svc for svc in stack.services(s) if svc.name == "stream").needs
    assert "s3" not in [svc.name for svc in stack.services(load_settings({}))]
    # A lake on a remote store is used, not run.
    remote = load_settings({**CLUSTER, "RETAIL_S3_ENDPOINT": "https://s3.example.internal"})
    assert remote.s3_local is None and "s3" not in [svc.name for svc in stack.services(remote)]


def test_the_gateway_gets_its_credentials_from_the_environment_not_the_command_line():
    s = load_settings({**CLUSTER, "RETAIL_S3_SECRET_KEY": "a-secret"})
    (spec,) = ObjectStore(s).processes(Path("/tmp/run"))
    assert "a-secret" not in " ".join(spec.argv)
    assert spec.env["ROOT_SECRET_ACCESS_KEY"] == "a-secret" and spec.env["ROOT_ACCESS_KEY_ID"] == "retail"
    assert spec.argv[-2:] == ["posix", str(s.state_dir / "s3")] and spec.ports == (29000,)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RETAIL_LAKE_URI": "s3a://", "RETAIL_S3_ENDPOINT": "http://127.0.0.1:9000"}, "names no bucket"),
        ({"RETAIL_LAKE_URI": "s3a://b", "RETAIL_S3_ENDPOINT": "127.0.0.1:9000"}, "RETAIL_S3_ENDPOINT"),
        (
            {"RETAIL_LAKE_URI": "s3a://b", "RETAIL_S3_ENDPOINT": "http://127.0.0.1:9000", "RETAIL_S3_ACCESS_KEY": "k"},
            "RETAIL_S3_SECRET_KEY is empty",
        ),
    ],
)
def test_bad_s3_lake_settings_name_the_setting(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env)


def test_spark_reaches_an_s3_lake_through_s3a_on_the_class_path(tmp_path):
    jars = tmp_path / "jars" / "s3a"
    s = load_settings({**CLUSTER, "RETAIL_DEPS_DIR": str(tmp_path)})
    with pytest.raises(RuntimeError, match="make setup-cluster"):
        spark.lake_jars(s)
    jars.mkdir(parents=True)
    (tmp_path / "jars" / "spark-connectors").mkdir()
    for name in ("s3a/hadoop-aws-3.5.0.jar", "s3a/bundle-2.35.4.jar", "spark-connectors/delta-spark.jar"):
        (tmp_path / "jars" / name).write_bytes(b"")
    classpath = f"{jars}/bundle-2.35.4.jar:{jars}/hadoop-aws-3.5.0.jar"
    conf = spark.lake_conf(s)
    assert conf["spark.executor.extraClassPath"] == classpath
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:29000"
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "us-east-1"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    # The driver's JVM gets them when it starts (spark.driver.extraClassPath set later is too late).
    args = spark.submit_args(s)
    assert args[args.index("--driver-class-path") + 1] == classpath
    assert (
        "--driver-class-path" not in spark.submit_args(load_settings({})) and spark.lake_conf(load_settings({})) == {}
    )


def test_lake_keys_follow_the_lake_uri_prefix():
    plain = load_settings(CLUSTER)
    nested = load_settings({**CLUSTER, "RETAIL_LAKE_URI": "s3a://bucket/chain/lake/"})
    assert lake_store.key(plain, "landing", "catalog", "stores.jsonl") == "landing/catalog/stores.jsonl"
    assert lake_store.key(nested, "raw-data/sales/") == "chain/lake/raw-data/sales"
