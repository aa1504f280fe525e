"""`make demo`: bring the local stack up and show every service working together."""

from __future__ import annotations

from retail_platform import smoke
from retail_platform.runtime import stack
from retail_platform.settings import Settings


def main(settings: Settings) -> int:
    print(f"== starting the local stack (state in {settings.state_dir})")
    stack.up(settings)
    print("== smoke scenario")
    report = smoke.run(settings)
    print("== where to look")
    print(f"  Airflow UI   {settings.airflow_url}  (login {settings.airflow_user} / {settings.airflow_password})")
    print(
        f"  Warehouse    {settings.clickhouse_url}  (user {settings.clickhouse_user}, database "
        f"{settings.clickhouse_database}; e.g. curl '{settings.clickhouse_url}/?user={settings.clickhouse_user}"
        f"&password=...&query=SELECT+1')"
    )
    print(f"  Kafka        {settings.kafka_bootstrap}")
    print(f"  Lake         {settings.lake_uri}")
    print("  Stop with `make down`; the stack keeps running until then.")
    if report.failed:
        print(f"== FAILED: {', '.join(report.failed)}")
        return 1
    print("== all services answered")
    return 0
