"""What the stream logs of Spark's progress report per trigger: the time split and the dedup state."""

from __future__ import annotations

import json

from retail_platform.streaming.runner import progress_summary

# A trigger's report as Spark 4 writes it (StreamingQueryProgress.json), trimmed to what matters.
REPORT = json.loads(
    """
{
  "id": "c4afcfe4-6a0d-43e1-b286-55c18db596b3", "runId": "2d0c", "name": "stream_events",
  "timestamp": "2026-12-07T15:07:01.602Z", "batchId": 32, "batchDuration": 4903, "numInputRows": 770,
  "durationMs": {"addBatch": 4512, "commitOffsets": 41, "getBatch": 0, "latestOffset": 12,
                 "queryPlanning": 96, "triggerExecution": 4903, "walCommit": 38},
  "stateOperators": [{
    "operatorName": "dedupeWithinWatermark", "numRowsTotal": 48211, "numRowsUpdated": 304,
    "allUpdatesTimeMs": 31, "numRowsRemoved": 290, "allRemovalsTimeMs": 44, "commitTimeMs": 120,
    "memoryUsedBytes": 9311232, "numRowsDroppedByWatermark": 0, "numShufflePartitions": 2,
    "numStateStoreInstances": 2, "customMetrics": {"rocksdbBytesCopied": 0}
  }],
  "sources": [], "sink": {"description": "ForeachBatchSink", "numOutputRows": -1}
}
"""
)


def test_the_summary_keeps_the_time_split_and_the_state_of_each_operator():
    summary = progress_summary(REPORT)
    assert summary["batch_id"] == 32 and summary["input_rows"] == 770
    assert summary["duration_ms"]["addBatch"] == 4512
    assert summary["duration_ms"]["triggerExecution"] == 4903
    assert summary["state"] == [
        {
            "numRowsTotal": 48211,
            "numRowsUpdated": 304,
            "numRowsRemoved": 290,
            "numRowsDroppedByWatermark": 0,
            "allUpdatesTimeMs": 31,
            "allRemovalsTimeMs": 44,
            "commitTimeMs": 120,
            "memoryUsedBytes": 9311232,
        }
    ]
    json.dumps(summary)  # one log line


def test_a_report_without_state_or_durations_still_summarises():
    summary = progress_summary({"batchId": 0, "numInputRows": 0})
    assert summary == {"batch_id": 0, "input_rows": 0, "duration_ms": {}, "state": []}
