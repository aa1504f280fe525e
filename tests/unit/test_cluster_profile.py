"""The cluster profile's settings and the configuration of the services `up` runs for it (three KRaft
brokers, a Spark standalone master and workers). Starting them is tests/cluster's job."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retail_platform.runtime import process, stack
from retail_platform.runtime.errors import RuntimeStartError
from retail_platform.runtime.kafka_broker import KafkaBroker
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
