"""The dashboards, charts and datasets, as data.

Each dataset is one BI view (``v_*``; never a raw fact table) with its grain written down; each
chart names its dataset and a metric written in the warehouse's SQL. ``bundle.py`` renders this
into Superset's import bundle (YAML), which is committed under ``infra/superset/bundle`` and
imported on every ``up``. Big numbers are plain aggregates so a test can compute the very same
figure with a direct warehouse query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STORE_COLUMN = "store_id"


@dataclass(frozen=True)
class Dataset:
    view: str
    grain: str
    columns: tuple[str, ...]
    time_column: str | None = None

    @property
    def has_store(self) -> bool:
        return STORE_COLUMN in self.columns


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    dataset: str
    kind: str  # "big_number", "big_number_trend", "table", "line", "bar"
    metrics: tuple[str, ...] = ()  # SQL aggregate expressions
    groupby: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()  # raw columns of a table chart (no aggregation)
    x_axis: str | None = None
    number_format: str = ",.0f"
    width: int = 4
    order_by: str | None = None
    where: str | None = None  # a SQL condition on the dataset's columns (chart-level filter)
    time_grain: str = "P1D"  # ISO 8601 bucket of a time x-axis
    # big_number_trend: the figure is the metric over the whole (filtered) range, as a big_number's;
    # below it, the newest time_grain bucket against the one `compare_lag` buckets before.
    compare_lag: int = 1
    compare_suffix: str = ""

    @property
    def is_big_number(self) -> bool:
        return self.kind in ("big_number", "big_number_trend")


@dataclass(frozen=True)
class Filter:
    """A native filter of a dashboard: a date range ("time") on each chart's time column, or a
    value list ("select") of one column, offered from ``dataset``. Either applies to exactly the
    charts whose dataset has that column (the others are out of its scope: a filter on a column a
    chart's dataset lacks would break the chart's query)."""

    key: str
    title: str
    kind: str  # "time" or "select"
    column: str | None = None
    dataset: str | None = None
    multi: bool = True


@dataclass(frozen=True)
class Dashboard:
    slug: str
    title: str
    charts: tuple[Chart, ...]
    refresh_seconds: int = 0
    description: str = ""
    rows: tuple[tuple[str, ...], ...] = field(default=())
    filters: tuple[Filter, ...] = ()

    def in_scope(self, flt: Filter) -> tuple[Chart, ...]:
        """The charts the filter applies to."""
        if flt.kind == "time":
            return tuple(c for c in self.charts if DATASETS[c.dataset].time_column)
        return tuple(c for c in self.charts if flt.column in DATASETS[c.dataset].columns)


DATASETS: dict[str, Dataset] = {
    d.view: d
    for d in (
        Dataset(
            "v_store_daily",
            "store_id, date",
            (
                "store_id",
                "region",
                "date",
                "revenue",
                "units",
                "sale_lines",
                "products_tracked",
                "stockouts",
                "below_reorder_point",
            ),
            "date",
        ),
        Dataset(
            "v_exec_daily",
            "date",
            (
                "date",
                "revenue",
                "units",
                "sale_lines",
                "stores_selling",
                "products_selling",
                "profit",
                "margin",
                "source",
            ),
            "date",
        ),
        Dataset(
            "v_category_daily",
            "date, category",
            ("date", "category", "revenue", "cost", "profit", "margin", "units", "sale_lines"),
            "date",
        ),
        Dataset(
            "v_sales_daily",
            "store_id, product_id, date",
            ("store_id", "product_id", "date", "units", "revenue", "sale_lines", "source"),
            "date",
        ),
        Dataset(
            "v_kpi_stockout_rate",
            "date, store_id",
            (
                "date",
                "store_id",
                "store_products",
                "stockouts",
                "stockout_rate",
                "below_reorder_point",
                "reorder_efficiency",
            ),
            "date",
        ),
        Dataset(
            "v_kpi_inventory_turnover",
            "month, store_id",
            ("month", "store_id", "cogs", "avg_inventory_value", "days", "turnover", "turnover_annualised"),
            "month",
        ),
        Dataset(
            "v_kpi_fill_rate",
            "date, store_id",
            ("date", "store_id", "units_sold", "est_lost_units", "fill_rate", "stockout_products"),
            "date",
        ),
        Dataset(
            "v_kpi_carrying_cost",
            "month, store_id",
            (
                "month",
                "store_id",
                "avg_inventory_value",
                "days",
                "carrying_cost_rate",
                "carrying_cost",
                "carrying_cost_per_unit_sold",
            ),
            "month",
        ),
        Dataset(
            "v_kpi_days_of_supply",
            "store_id, product_id",
            ("store_id", "product_id", "quantity_on_hand", "avg_daily_units_28d", "days_of_supply", "is_dead_stock"),
        ),
        Dataset("v_kpi_dead_stock", "store_id", ("store_id", "products_in_stock", "dead_stock", "dead_stock_rate")),
        Dataset(
            "v_rt_stock_risk",
            "store_id, product_id",
            (
                "store_id",
                "product_id",
                "product_name",
                "current_stock",
                "stock_as_of",
                "reorder_point",
                "order_quantity",
                "units_24h",
                "avg_daily_units_7d",
                "demand_per_day",
                "days_of_cover",
                "risk_level",
                "risk_score",
            ),
        ),
        Dataset(
            "v_rt_sales_velocity",
            "store_id, product_id",
            (
                "store_id",
                "product_id",
                "units_1h",
                "units_24h",
                "units_7d",
                "revenue_24h",
                "revenue_7d",
                "transactions_7d",
                "avg_daily_units_7d",
                "demand_per_day",
                "last_sale_window",
            ),
        ),
        Dataset(
            "v_reorder_recommendations",
            "store_id, product_id (newest run)",
            (
                "run_date",
                "store_id",
                "store_name",
                "product_id",
                "product_name",
                "category",
                "supplier_id",
                "safety_stock",
                "reorder_point",
                "order_quantity",
                "eoq",
                "quantity_on_hand",
                "quantity_on_order",
                "order_now",
                "recommended_quantity",
                "order_by_date",
                "reason",
                "is_below_reorder_point",
                "abc_class",
                "xyz_class",
                "is_slow_moving",
                "forecast_daily_units",
                "days_of_cover",
                "service_level",
                "model_version",
                "policy_version",
            ),
        ),
        Dataset(
            "v_ml_forecast_accuracy_daily",
            "target_date, horizon",
            ("target_date", "horizon", "rows", "wape", "mae", "bias", "interval_coverage"),
            "target_date",
        ),
        Dataset(
            "v_restock_alerts",
            "one restock alert (event_id)",
            (
                "event_id",
                "event_time",
                "store_id",
                "product_id",
                "product_name",
                "current_stock",
                "reorder_point",
                "recommended_quantity",
            ),
            "event_time",
        ),
        Dataset(
            "v_stream_anomalies",
            "one anomaly episode (anomaly_id): stock or sales velocity",
            (
                "anomaly_id",
                "kind",
                "store_id",
                "product_id",
                "product_name",
                "opened_at",
                "closed_at",
                "status",
                "observed",
                "expected",
                "difference",
                "lower",
                "upper",
            ),
            "opened_at",
        ),
        Dataset(
            "v_demand_forecast_latest",
            "store_id, product_id, target_date (newest forecast run)",
            (
                "forecast_date",
                "store_id",
                "product_id",
                "target_date",
                "horizon",
                "predicted_units",
                "lower_units",
                "upper_units",
                "model_version",
                "actual_units",
            ),
            "target_date",
        ),
        Dataset(
            "v_ml_model_performance",
            "model_name, model_version, evaluated, horizon",
            (
                "model_name",
                "model_version",
                "evaluated",
                "horizon",
                "rows",
                "wape",
                "mae",
                "rmse",
                "bias",
                "smape",
                "interval_coverage",
                "holdout_start",
                "holdout_end",
                "is_champion",
                "trained_at",
            ),
            "trained_at",
        ),
        Dataset(
            "v_ops_stream_batches",
            "one micro-batch (query_name, batch_id)",
            (
                "query_name",
                "batch_id",
                "started_at",
                "finished_at",
                "duration_ms",
                "input_total",
                "accepted",
                "quarantined",
                "duplicates_dropped",
                "alerts",
                "max_event_time",
                "freshness_s",
            ),
            "finished_at",
        ),
        Dataset(
            "v_ops_quarantine_daily",
            "date, source_topic, reason",
            ("date", "source_topic", "reason", "records"),
            "date",
        ),
        Dataset(
            "v_ops_task_failures",
            "one failed task try",
            (
                "dag_id",
                "task_id",
                "run_id",
                "map_index",
                "try_number",
                "state",
                "failed_at",
                "exception_class",
                "exception_message",
            ),
            "failed_at",
        ),
        Dataset("v_batch_watermark", "one row", ("watermark", "loaded_at")),
        Dataset(
            "v_ops_alerts",
            "one alert episode's start (firing) or end (resolved)",
            ("alert", "state", "value", "threshold", "detail", "run_id", "recorded_at"),
            "recorded_at",
        ),
        Dataset(
            "v_inferred_members",
            "kind, member_key",
            (
                "kind",
                "member_key",
                "created_by",
                "first_seen",
                "last_seen",
                "days_seen",
                "sale_lines",
                "units",
                "revenue",
            ),
        ),
    )
}

_REV = "SUM(revenue)"
_UNITS = "SUM(units)"
# Revenue, units and margin against the previous period: the newest calendar week (to date) against
# the whole week before, under the figure for the filtered range.
_WEEKLY: dict[str, Any] = {
    "x_axis": "date",
    "time_grain": "P1W",
    "compare_lag": 1,
    "compare_suffix": "vs previous week",
    "width": 3,
}

EXECUTIVE = Dashboard(
    "executive",
    "Executive",
    (
        Chart("exec_revenue", "Revenue", "v_store_daily", "big_number_trend", (_REV,), number_format=",.2f", **_WEEKLY),
        Chart("exec_units", "Units sold", "v_store_daily", "big_number_trend", (_UNITS,), **_WEEKLY),
        Chart(
            "exec_margin",
            "Gross margin (closed days)",
            "v_exec_daily",
            "big_number_trend",
            ("SUM(profit) / nullIf(SUMIf(revenue, profit IS NOT NULL), 0)",),
            number_format=".1%",
            **_WEEKLY,
        ),
        Chart(
            "exec_turnover",
            "Inventory turnover, annualised (target > 6)",
            "v_kpi_inventory_turnover",
            "big_number",
            ("AVG(turnover_annualised)",),
            number_format=",.2f",
            width=3,
        ),
        Chart(
            "exec_stockout",
            "Stock-out rate (target < 2%)",
            "v_kpi_stockout_rate",
            "big_number",
            ("SUM(stockouts) / nullIf(SUM(store_products), 0)",),
            number_format=".2%",
            width=3,
        ),
        Chart(
            "exec_fill",
            "Fill rate (target > 98%)",
            "v_kpi_fill_rate",
            "big_number",
            ("SUM(units_sold) / nullIf(SUM(units_sold) + SUM(est_lost_units), 0)",),
            number_format=".2%",
            width=3,
        ),
        Chart(
            "exec_dead",
            "Dead stock (target < 5%)",
            "v_kpi_dead_stock",
            "big_number",
            ("SUM(dead_stock) / nullIf(SUM(products_in_stock), 0)",),
            number_format=".2%",
            width=3,
        ),
        Chart(
            "exec_carrying",
            "Carrying cost",
            "v_kpi_carrying_cost",
            "big_number",
            ("SUM(carrying_cost)",),
            number_format=",.2f",
            width=3,
        ),
        Chart("exec_revenue_trend", "Revenue per day", "v_store_daily", "line", (_REV, _UNITS), x_axis="date", width=6),
        Chart(
            "exec_revenue_store", "Revenue by store", "v_store_daily", "bar", (_REV,), groupby=("store_id",), width=6
        ),
        Chart(
            "exec_revenue_category",
            "Revenue and margin by category (closed days)",
            "v_category_daily",
            "table",
            (_REV, "SUM(profit)", _UNITS),
            groupby=("category",),
            width=6,
        ),
        Chart(
            "exec_days_of_supply",
            "Days of supply by store",
            "v_kpi_days_of_supply",
            "table",
            ("AVG(days_of_supply)", "SUM(quantity_on_hand)"),
            groupby=("store_id",),
            width=6,
        ),
    ),
    description="High-level KPIs against the targets of the design (turnover > 6, stock-out < 2%, fill > 98%, "
    "dead stock < 5%, carrying cost < 25%).",
    filters=(
        Filter("exec_date", "Date range", "time"),
        Filter("exec_region", "Region", "select", "region", "v_store_daily"),
        Filter("exec_category", "Category", "select", "category", "v_category_daily"),
    ),
)

STORE_MANAGER = Dashboard(
    "store-manager",
    "Store Manager",
    (
        Chart(
            "sm_revenue_24h",
            "Revenue, last 24 h",
            "v_rt_sales_velocity",
            "big_number",
            ("SUM(revenue_24h)",),
            number_format=",.2f",
            width=3,
        ),
        Chart(
            "sm_units_24h", "Units sold, last 24 h", "v_rt_sales_velocity", "big_number", ("SUM(units_24h)",), width=3
        ),
        Chart(
            "sm_at_risk",
            "Products out of stock or below reorder point",
            "v_rt_stock_risk",
            "big_number",
            ("countIf(risk_level IN ('out_of_stock', 'below_reorder_point'))",),
            width=3,
        ),
        Chart("sm_stock_units", "Units in stock", "v_rt_stock_risk", "big_number", ("SUM(current_stock)",), width=3),
        Chart(
            "sm_risk_levels",
            "Stock-out risk",
            "v_rt_stock_risk",
            "bar",
            ("COUNT(*)",),
            groupby=("risk_level",),
            width=4,
        ),
        Chart(
            "sm_stock",
            "Live stock and days of cover",
            "v_rt_stock_risk",
            "table",
            (),
            columns=(
                "store_id",
                "product_id",
                "product_name",
                "current_stock",
                "days_of_cover",
                "risk_level",
                "stock_as_of",
            ),
            order_by="risk_score",
            width=8,
        ),
        Chart(
            "sm_alerts_24h",
            "Restock alerts, last 24 h",
            "v_restock_alerts",
            "table",
            (),
            columns=(
                "event_time",
                "store_id",
                "product_id",
                "product_name",
                "current_stock",
                "reorder_point",
                "recommended_quantity",
            ),
            where="event_time >= now() - INTERVAL 24 HOUR",
            order_by="event_time",
            width=6,
        ),
        Chart(
            "sm_anomalies",
            "Anomalies (stock, sales velocity): open, or opened in the last 7 days",
            "v_stream_anomalies",
            "table",
            (),
            columns=(
                "opened_at",
                "store_id",
                "product_id",
                "product_name",
                "kind",
                "status",
                "observed",
                "expected",
                "difference",
                "closed_at",
            ),
            where="(status = 'open' OR opened_at >= now() - INTERVAL 7 DAY)",
            order_by="opened_at",
            width=12,
        ),
        Chart(
            "sm_forecast",
            "7-day forecast (80% interval) and actual units",
            "v_demand_forecast_latest",
            "line",
            ("SUM(predicted_units)", "SUM(lower_units)", "SUM(upper_units)", "SUM(actual_units)"),
            x_axis="target_date",
            width=6,
        ),
        Chart(
            "sm_reorder",
            "Reorder recommendations",
            "v_reorder_recommendations",
            "table",
            (),
            columns=(
                "store_id",
                "product_id",
                "product_name",
                "order_now",
                "recommended_quantity",
                "order_by_date",
                "days_of_cover",
                "reason",
            ),
            width=12,
        ),
    ),
    refresh_seconds=30,
    description=("Live stock, stock-out risk, anomalies and reorder recommendations per store; refreshes every 30 s."),
    # The values offered come through the store manager's row-level security: only their stores.
    filters=(Filter("sm_store", "Store", "select", STORE_COLUMN, "v_rt_stock_risk"),),
)

INVENTORY_ANALYST = Dashboard(
    "inventory-analyst",
    "Inventory Analyst",
    (
        Chart(
            "ia_abc_xyz",
            "ABC/XYZ matrix (items)",
            "v_reorder_recommendations",
            "table",
            ("COUNT(*)",),
            groupby=("abc_class", "xyz_class"),
            width=4,
        ),
        Chart(
            "ia_dead_stock",
            "Dead stock by store",
            "v_kpi_dead_stock",
            "table",
            ("SUM(dead_stock)", "SUM(products_in_stock)"),
            groupby=("store_id",),
            width=4,
        ),
        Chart(
            "ia_slow", "Slow movers", "v_reorder_recommendations", "big_number", ("countIf(is_slow_moving)",), width=4
        ),
        Chart(
            "ia_policy",
            "Safety stock, reorder point and EOQ per item",
            "v_reorder_recommendations",
            "table",
            (),
            columns=(
                "store_id",
                "product_id",
                "product_name",
                "abc_class",
                "xyz_class",
                "safety_stock",
                "reorder_point",
                "eoq",
                "quantity_on_hand",
                "supplier_id",
            ),
            width=12,
        ),
        Chart(
            "ia_category",
            "Category performance (closed days)",
            "v_category_daily",
            "line",
            (_REV,),
            groupby=("category",),
            x_axis="date",
            width=12,
        ),
    ),
)

ML_PERFORMANCE = Dashboard(
    "ml-performance",
    "ML Performance",
    (
        Chart(
            "ml_wape",
            "WAPE",
            "v_ml_forecast_accuracy_daily",
            "big_number",
            ("SUM(wape * rows) / nullIf(SUM(rows), 0)",),
            number_format=".1%",
            width=4,
        ),
        Chart(
            "ml_coverage",
            "Interval coverage",
            "v_ml_forecast_accuracy_daily",
            "big_number",
            ("SUM(interval_coverage * rows) / nullIf(SUM(rows), 0)",),
            number_format=".1%",
            width=4,
        ),
        Chart("ml_rows", "Forecast rows scored", "v_ml_forecast_accuracy_daily", "big_number", ("SUM(rows)",), width=4),
        Chart(
            "ml_trend",
            "WAPE, MAE and bias over time",
            "v_ml_forecast_accuracy_daily",
            "line",
            ("AVG(wape)", "AVG(mae)", "AVG(bias)"),
            x_axis="target_date",
            width=8,
        ),
        Chart(
            "ml_horizon",
            "Accuracy by horizon",
            "v_ml_forecast_accuracy_daily",
            "table",
            ("AVG(wape)", "AVG(mae)", "AVG(interval_coverage)"),
            groupby=("horizon",),
            width=4,
        ),
        Chart(
            "ml_versions",
            "Model versions and promotions",
            "v_ml_model_performance",
            "table",
            (),
            columns=(
                "trained_at",
                "model_name",
                "model_version",
                "evaluated",
                "horizon",
                "wape",
                "mae",
                "bias",
                "is_champion",
            ),
            order_by="trained_at",
            width=12,
        ),
    ),
)

OPERATIONS = Dashboard(
    "operations",
    "Operations",
    (
        Chart(
            "ops_freshness",
            "Freshness of the newest micro-batch (s)",
            "v_ops_stream_batches",
            "big_number",
            ("argMax(freshness_s, finished_at)",),
            number_format=",.1f",
            width=3,
        ),
        Chart(
            "ops_batch_ms",
            "Micro-batch duration, last hour (ms, mean)",
            "v_ops_stream_batches",
            "big_number",
            ("AVG(duration_ms)",),
            where="finished_at >= now() - INTERVAL 1 HOUR",
            width=3,
        ),
        Chart(
            "ops_quarantined",
            "Records quarantined",
            "v_ops_quarantine_daily",
            "big_number",
            ("SUM(records)",),
            width=3,
        ),
        Chart(
            "ops_failures",
            "Failed task tries",
            "v_ops_task_failures",
            "big_number",
            ("COUNT(*)",),
            width=3,
        ),
        Chart(
            "ops_throughput",
            "Stream throughput per minute (events read, accepted)",
            "v_ops_stream_batches",
            "line",
            ("SUM(input_total)", "SUM(accepted)"),
            x_axis="finished_at",
            time_grain="PT1M",
            where="finished_at >= now() - INTERVAL 6 HOUR",
            width=6,
        ),
        Chart(
            "ops_quarantine_reasons",
            "Quarantined records by reason",
            "v_ops_quarantine_daily",
            "table",
            ("SUM(records)",),
            groupby=("source_topic", "reason"),
            width=6,
        ),
        Chart(
            "ops_task_failures",
            "Task failures",
            "v_ops_task_failures",
            "table",
            (),
            columns=("failed_at", "dag_id", "task_id", "try_number", "state", "exception_class"),
            order_by="failed_at",
            width=6,
        ),
        Chart(
            "ops_watermark",
            "Daily-load watermark",
            "v_batch_watermark",
            "table",
            (),
            columns=("watermark", "loaded_at"),
            width=4,
        ),
        Chart(
            "ops_speed_share",
            "Days served by each layer",
            "v_sales_daily",
            "table",
            ("uniqExact(date)", _UNITS),
            groupby=("source",),
            width=4,
        ),
        Chart(
            "ops_inferred",
            "Inferred dimension members",
            "v_inferred_members",
            "table",
            (),
            columns=("kind", "member_key", "first_seen", "last_seen", "sale_lines"),
            width=4,
        ),
        Chart(
            "ops_alerts",
            "Threshold alerts (freshness, stream lag, DQ failures): episodes",
            "v_ops_alerts",
            "table",
            (),
            columns=("recorded_at", "alert", "state", "value", "threshold", "detail"),
            order_by="recorded_at",
            width=12,
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (EXECUTIVE, STORE_MANAGER, INVENTORY_ANALYST, ML_PERFORMANCE, OPERATIONS)


def check() -> None:
    """Every chart names a known dataset and columns it has; keys are unique."""
    keys: set[str] = set()
    for dash in DASHBOARDS:
        for chart in dash.charts:
            if chart.key in keys:
                raise ValueError(f"chart key {chart.key} is used twice")
            keys.add(chart.key)
            ds = DATASETS.get(chart.dataset)
            if ds is None:
                raise ValueError(f"chart {chart.key}: unknown dataset {chart.dataset}")
            for col in (*chart.groupby, *chart.columns, *((chart.x_axis,) if chart.x_axis else ())):
                if col not in ds.columns:
                    raise ValueError(f"chart {chart.key}: {chart.dataset} has no column {col}")
            if chart.kind not in ("big_number", "big_number_trend", "table", "line", "bar"):
                raise ValueError(f"chart {chart.key}: unknown kind {chart.kind}")
            if chart.kind != "table" and not chart.metrics:
                raise ValueError(f"chart {chart.key}: a {chart.kind} needs a metric")
            if chart.kind == "big_number_trend" and (chart.x_axis != ds.time_column or chart.compare_lag < 1):
                raise ValueError(f"chart {chart.key}: a trend needs the dataset's time column and a lag of 1 or more")
        for flt in dash.filters:
            if flt.kind not in ("time", "select"):
                raise ValueError(f"filter {flt.key}: unknown kind {flt.kind}")
            source = DATASETS.get(str(flt.dataset))
            if flt.kind == "select" and (source is None or flt.column not in source.columns):
                raise ValueError(f"filter {flt.key}: {flt.dataset} has no column {flt.column}")
            if not dash.in_scope(flt):
                raise ValueError(f"filter {flt.key}: no chart of {dash.slug} has its column")
