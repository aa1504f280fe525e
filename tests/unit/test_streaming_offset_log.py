"""Reading a micro-batch's end offsets from Spark's offset log (the file format of
``<checkpoint>/offsets/<batch id>``), and nothing at all from anything else."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from retail_platform.streaming import offset_log

# As Spark 4 writes it for the stream's query (two reads of the same topics, one line each).
REAL = "\n".join(
    [
        "v1",
        '{"batchWatermarkMs":1796613692370,"batchTimestampMs":1796614622493,"conf":{"spark.sql.shuffle.partitions":"2"}}',
        '{"retail-price-changes":{"0":0,"1":0},"retail-sales-transactions":{"0":5585,"1":2803,"2":433}}',
        '{"retail-price-changes":{"0":0,"1":0},"retail-sales-transactions":{"0":5585,"1":2803,"2":433}}',
    ]
)


def test_reads_every_partition_of_every_topic():
    assert offset_log.parse(REAL) == {
        "retail-price-changes:0": 0,
        "retail-price-changes:1": 0,
        "retail-sales-transactions:0": 5585,
        "retail-sales-transactions:1": 2803,
        "retail-sales-transactions:2": 433,
    }


def test_sources_that_differ_give_each_partition_its_highest_end():
    text = "v1\n{}\n" + '{"t":{"0":5}}\n{"t":{"0":9,"1":2}}\n"-"'
    assert offset_log.parse(text) == {"t:0": 9, "t:1": 2}


HOSTILE = [
    "",
    "v1",
    "v1\n{}",
    'garbage\n{}\n{"t":{"0":1}}',
    "v1\n{}\n{not json",
    'v1\n{}\n{"t":{"x":1}}',
    'v1\n{}\n{"t":{"-1":1}}',
    'v1\n{}\n{"t":{"0":-1}}',
    'v1\n{}\n{"t":{"0":1.5}}',
    'v1\n{}\n{"t":{"0":"7"}}',
    'v1\n{}\n{"t":{"0":true}}',
    'v1\n{}\n{"t":{"٣":1}}',
    'v1\n{}\n{"t":{"0":1}}\n{"t":{"0":null}}',
]


def test_anything_that_is_not_an_offset_log_yields_no_offsets():
    for text in HOSTILE:
        assert offset_log.parse(text) == {}, text


@given(st.text())
def test_never_raises_on_arbitrary_text(text):
    result = offset_log.parse(text)
    assert all(isinstance(v, int) and v >= 0 for v in result.values())


@given(
    st.dictionaries(
        st.text(st.characters(codec="ascii", exclude_characters=":"), min_size=1, max_size=20),
        st.dictionaries(st.integers(0, 50).map(str), st.integers(0, 2**62), min_size=1, max_size=5),
        min_size=1,
        max_size=4,
    )
)
def test_round_trips_what_spark_writes(sources):
    text = "v1\n" + json.dumps({"batchWatermarkMs": 0}) + "\n" + json.dumps(sources)
    expected = {f"{t}:{int(p)}": o for t, parts in sources.items() for p, o in parts.items()}
    assert offset_log.parse(text) == expected


def test_an_unreadable_checkpoint_yields_no_offsets_instead_of_failing_the_batch():
    class NoSpark:
        @property
        def sparkContext(self):
            raise RuntimeError("no JVM")

    assert offset_log.read(NoSpark(), "/nonexistent", 3) == {}
