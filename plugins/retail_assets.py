"""The assets the DAGs produce and schedule on, and the Spark applications they submit: declared here
once, so a producer and its consumers cannot drift apart by a typo in a URI.

Everything here is a constant computed from this file's place in the repository (plugins/ beside
spark_jobs/, in a checkout as in the compose image's /opt/retail); no setting is read.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import Asset

SPARK_JOBS = Path(__file__).resolve().parent.parent / "spark_jobs"


def application(name: str) -> str:
    """The path spark-submit runs for ``spark_jobs/<name>.py``."""
    return str(SPARK_JOBS / f"{name}.py")


DAILY_ETL_APP = application("daily_etl")
IMPORT_SALES_HISTORY_APP = application("import_sales_history")
FEATURE_ENGINEERING_APP = application("feature_engineering")
PREDICT_DEMAND_APP = application("predict_demand")
TRAIN_DEMAND_MODEL_APP = application("train_demand_model")
MAINTENANCE_APP = application("maintenance")

# daily_etl -> feature_engineering, stock_optimization
FACT_SALES = Asset("clickhouse://retail/fact_sales")
FACT_INVENTORY = Asset("clickhouse://retail/fact_inventory")
# feature_engineering -> batch_predictions
INFERENCE_FEATURES = Asset("lake://features/inference")
WAREHOUSE_FEATURES = Asset("clickhouse://retail/ml_demand_features")
# batch_predictions -> stock_optimization
FORECASTS = Asset("clickhouse://retail/ml_demand_forecast")
ACCURACY = Asset("clickhouse://retail/ml_forecast_accuracy")
# model_training
MODEL = Asset("lake://models/demand-forecast")
PERFORMANCE = Asset("clickhouse://retail/ml_model_performance")
# stock_optimization
RECOMMENDATIONS = Asset("clickhouse://retail/ml_reorder_recommendations")
ANOMALIES = Asset("clickhouse://retail/ml_inventory_anomalies")
REORDER_POLICY = Asset("clickhouse://retail/rt_reorder_policy")
