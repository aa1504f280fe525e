"""The speed layer's streaming job, as pure functions the Spark job (spark_jobs/stream_events.py) wires.

One micro-batch flows through these modules in this order:

- ``columns``: the columns of a parsed record, derived from the event contracts (one typed column per
  contract field, the union over the input topics).
- ``parse``: Kafka record -> contract verdict (``contracts.rejection_reason``) and typed fields; the
  ``mapInArrow`` function the stream runs.
- ``realtime``: accepted events -> rows of ``rt_sales_5min`` (per-batch deltas) and ``rt_stock``.
- ``alerts``: the restock-alert state machine (one alert per store/product until restocked).
- ``deadletter``: rejected records -> dead-letter messages and ``rt_quarantine`` rows.
- ``ops``: the ``ops_stream_batches`` row, the lag and health of the stream.
- ``sink``: idempotent writes: ClickHouse inserts with deduplication tokens, Kafka publishing that
  never repeats a message of a replayed batch.
- ``batch``: one micro-batch from collected records to every sink, in the order that keeps replays exact.
- ``topology`` and ``bronze``: the Spark parts (streaming plan, Delta appends).
- ``config``: the job's options and their defaults.
"""
