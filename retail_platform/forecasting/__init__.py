"""Demand forecasting: origin features (no leakage), a GBT model with a horizon feature, baselines,
metrics, the model registry in the lake and 7-day batch predictions with 80% intervals.

Modules: ``features`` (Spark: daily grid -> origin features -> horizon rows), ``feature_store`` (the
feature run: warehouse facts -> lake features/{training,inference} + ml_demand_features), ``metrics``
and ``baselines`` (pure functions; also the day-of-week forecaster stock optimisation falls back to),
``warehouse_io`` (ClickHouse <-> Spark in parallel, by month),
``training`` (fit, hold-out scoring, promotion), ``registry`` (models/demand-forecast/vN),
``predictions`` (ml_demand_forecast, ml_forecast_accuracy), ``jobs`` (what the Spark jobs and DAG
tasks share). Daily-grain simulated history for tests and benchmarks is ``simulation.fact_history``.

Operating it (DAGs feature_engineering -> batch_predictions daily, model_training weekly):
* first run: rebuild the training features over the whole history once, e.g. trigger
  feature_engineering with conf {"start": "2025-01-01"} (or
  ``python -m spark_jobs.feature_engineering --date <last loaded day> --start <first day>``); the daily
  runs then keep the newest week of training rows and the inference rows current;
* then trigger model_training once: batch_predictions needs a champion (exit 2 until there is one);
* a backfill of old days changes old targets: rebuild from the first backfilled day with "start".
"""
