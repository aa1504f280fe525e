"""Demand forecasting: origin features (no leakage), a GBT model with a horizon feature, baselines,
metrics, the model registry in the lake and 7-day batch predictions with 80% intervals.

Modules: ``features`` (Spark: daily grid -> origin features -> horizon rows), ``metrics`` and
``baselines`` (pure functions), ``warehouse_io`` (ClickHouse <-> Spark in parallel, by month),
``training``, ``registry``, ``predictions``, ``synthetic`` (daily-grain simulated history with its
true expected demand).
"""
