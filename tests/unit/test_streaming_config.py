"""The job's options: defaults for two cores, the checkpoint in the lake's checkpoint zone, refusals."""

from __future__ import annotations

import pytest

from retail_platform.settings import load_settings
from retail_platform.streaming.config import StreamConfig, parse_args
from retail_platform.streaming.runner import spark_conf


@pytest.fixture
def settings():
    return load_settings({"RETAIL_LAKE_URI": "file:///data/lake"})


def test_defaults(settings):
    config = parse_args([], settings)
    assert config.checkpoint == "file:///data/lake/checkpoints/stream_events"
    assert config.trigger_interval == "3 seconds"
    assert config.max_offsets_per_trigger == 100_000
    assert config.dedup_watermark == "15 minutes"
    assert config.starting_offsets == "earliest"
    assert not config.available_now


def test_options(settings):
    config = parse_args(
        [
            "--query-name",
            "q2",
            "--trigger-seconds",
            "2.5",
            "--max-offsets-per-trigger",
            "500",
            "--dedup-watermark",
            "1 hour",
            "--fail-on-data-loss",
            "false",
            "--available-now",
        ],
        settings,
    )
    assert config.checkpoint.endswith("/checkpoints/q2")
    assert (config.trigger_interval, config.max_offsets_per_trigger, config.dedup_watermark) == (
        "2.5 seconds",
        500,
        "1 hour",
    )
    assert config.fail_on_data_loss is False and config.available_now


@pytest.mark.parametrize(
    "argv",
    [
        ["--trigger-seconds", "0"],
        ["--max-offsets-per-trigger", "-1"],
        ["--dedup-watermark", "soon"],
        ["--starting-offsets", "middle"],
        ["--fail-on-data-loss", "maybe"],
    ],
)
def test_bad_options_are_refused(settings, argv):
    with pytest.raises(SystemExit):
        parse_args(argv, settings)


def test_spark_conf_for_two_cores():
    conf = spark_conf(StreamConfig())
    assert conf["spark.sql.shuffle.partitions"] == "2"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.databricks.delta.snapshotPartitions"] == "2"
    assert "RocksDB" in conf["spark.sql.streaming.stateStore.providerClass"]
