"""The end offsets a micro-batch covers, read from the query's offset log.

Spark writes ``<checkpoint>/offsets/<batch id>`` before it runs a batch: a version line (``v1``), the
batch's metadata, then one JSON line per source holding its end offsets (exclusive); for the Kafka
source ``{"topic": {"partition": offset}}``. A batch covers every partition of its topics up to those
offsets, also the partitions it read nothing from. The rows alone cannot show that: a partition that
received nothing since the query started would look behind for ever to the daily close, whose rule is
"the stream's position in every partition has passed the end offset taken at the close".

The log is written by Spark, but it is still read as outside data: anything unexpected in it yields
no offsets (the batch then records only the offsets its rows carry, as before), never an error.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger(__name__)


def parse(text: str) -> dict[str, int]:
    """{"topic:partition": end offset (exclusive)} of every Kafka source line; {} if not an offset log."""
    lines = text.splitlines()
    if len(lines) < 3 or not lines[0].startswith("v"):
        return {}
    ends: dict[str, int] = {}
    for line in lines[2:]:
        try:
            source = json.loads(line)
        except ValueError:
            return {}
        if not isinstance(source, dict):
            continue  # another source's offset format (a file source's log id, "-" for none, ...)
        for topic, partitions in source.items():
            if not isinstance(partitions, dict):
                continue
            for partition, offset in partitions.items():
                if not (isinstance(partition, str) and partition.isdigit() and partition.isascii()):
                    return {}
                if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                    return {}
                key = f"{topic}:{int(partition)}"
                ends[key] = max(ends.get(key, 0), offset)
    return ends


def read(spark: Any, checkpoint: str, batch_id: int) -> dict[str, int]:
    """The end offsets of ``batch_id`` from the checkpoint's offset log, through Hadoop's file system
    (the checkpoint may be on the local disk or in the S3 lake); {} when it cannot be read."""
    try:
        jvm = spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/offsets/{batch_id}")
        fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        stream = fs.open(path)
        try:
            reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
            lines: list[str] = []
            while (line := reader.readLine()) is not None:
                lines.append(str(line))
        finally:
            stream.close()
    except Exception as exc:  # the rows' own offsets still hold; the log says why this one was not used
        log.warning("offset log of batch %s not read (%s): positions from its rows only", batch_id, exc)
        return {}
    return parse("\n".join(lines))
