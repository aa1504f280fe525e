"""The platform's operators.

``PlatformSparkSubmitOperator`` is the Spark provider's SparkSubmitOperator on the ``spark_default``
connection (the master URL), with the platform's connector jars and spark-submit environment filled in
when the task *runs* (``execute``), never when the DAG file is parsed: the DAG processor must not read
settings or touch the filesystem for them.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from retail_platform.orchestration.connections import SPARK_CONN_ID


class PlatformSparkSubmitOperator(SparkSubmitOperator):
    def __init__(self, *, conn_id: str = SPARK_CONN_ID, verbose: bool = False, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, verbose=verbose, **kwargs)

    def execute(self, context: Any) -> None:
        from retail_platform.settings import get_settings
        from retail_platform.spark import connector_jars, lake_conf, lake_jars, submit_env

        settings = get_settings()
        # Connectors (Delta, Kafka) must be on the driver's classpath when its JVM starts: --jars.
        self.jars = ",".join(connector_jars(settings))
        # A lake on S3: the S3A jars on the driver's class path, its settings for the job.
        if lake_jars(settings):
            self.driver_class_path = ":".join(lake_jars(settings))
            self.conf = {**lake_conf(settings), **(self.conf or {})}
        # PATH with the virtualenv first (pyspark's spark-submit, its Python), SPARK_HOME, loopback.
        self.env_vars = {**submit_env(settings), **(self.env_vars or {})}
        return super().execute(context)
