"""Batch layer: the daily recomputation of one day (bronze -> silver -> facts), data-quality checks and
the batch watermark the lambda views switch on.

Modules: rows (bronze rows as contract events, dedup order), conform (re-validation and SCD2
conformance, the mapInArrow function), contract_precheck (the vectorised pre-check that spares valid
rows the per-row validator), facts (pure fact-row builders:
sales lines, end-of-day stock), warehouse_load (replace one day atomically, watermark), aggregates
(the serving aggregates the dashboards read, rebuilt from the facts), quality (DQ
checks and thresholds), daily (the Spark job wiring), operators (the Airflow operator that submits it).
"""
