"""Render the catalog into Superset's import bundle (YAML), and zip it for import.

The rendered YAML is committed under ``infra/superset/bundle`` (what Superset imports on every
``up``); ``python -m retail_platform.bi.bundle`` rewrites it after the catalog changed, and a unit
test fails while the two disagree. Identifiers are uuid5 of stable keys, so a re-import updates
the same objects instead of adding copies.
"""

from __future__ import annotations

import io
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import yaml

from retail_platform.bi.catalog import DASHBOARDS, DATASETS, Chart, Dashboard, Dataset, Filter, check
from retail_platform.settings import REPO_ROOT

BUNDLE_DIR = REPO_ROOT / "infra" / "superset" / "bundle"
DATABASE_NAME = "retail_warehouse"
# Datasets name no schema: queries go to the connection's database (the settings' database), so
# one bundle serves every deployment and a test's scratch database alike.
SCHEMA = None
# What the committed YAML says; provisioning replaces it with the settings' URI (with the password).
PLACEHOLDER_URI = "clickhousedb://retail@127.0.0.1:8123/retail"
VERSION = "1.0.0"
_NAMESPACE = uuid.UUID("6f1c7e2a-5b0d-4c39-9a57-2d8f3c1e0b44")
VIZ = {
    "big_number": "big_number_total",
    "big_number_trend": "big_number",
    "table": "table",
    "line": "echarts_timeseries_line",
    "bar": "echarts_timeseries_bar",
}


def stable_uuid(kind: str, key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{key}"))


DATABASE_UUID = stable_uuid("database", DATABASE_NAME)


def chart_uuid(chart: Chart) -> str:
    return stable_uuid("chart", chart.key)


def dataset_uuid(view: str) -> str:
    return stable_uuid("dataset", view)


def dashboard_uuid(dash: Dashboard) -> str:
    return stable_uuid("dashboard", dash.slug)


def _metric(expression: str) -> dict[str, Any]:
    return {"expressionType": "SQL", "sqlExpression": expression, "label": expression}


def database_yaml() -> dict[str, Any]:
    return {
        "database_name": DATABASE_NAME,
        "sqlalchemy_uri": PLACEHOLDER_URI,
        "cache_timeout": None,
        "expose_in_sqllab": True,
        "allow_run_async": False,
        "allow_ctas": False,
        "allow_cvas": False,
        "allow_dml": False,
        "allow_file_upload": False,
        "extra": {"allows_virtual_table_explore": True},
        "uuid": DATABASE_UUID,
        "version": VERSION,
    }


def dataset_yaml(ds: Dataset) -> dict[str, Any]:
    return {
        "table_name": ds.view,
        "schema": SCHEMA,
        "description": f"View {ds.view}; grain: {ds.grain}.",
        "main_dttm_col": ds.time_column,
        "sql": None,
        "params": None,
        "cache_timeout": None,
        "filter_select_enabled": True,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "columns": [
            {
                "column_name": col,
                "is_dttm": col == ds.time_column,
                "filterable": True,
                "groupby": True,
                "is_active": True,
            }
            for col in ds.columns
        ],
        "metrics": [{"metric_name": "count", "expression": "COUNT(*)", "metric_type": "count"}],
        "uuid": dataset_uuid(ds.view),
        "database_uuid": DATABASE_UUID,
        "version": VERSION,
    }


def chart_params(chart: Chart) -> dict[str, Any]:
    viz = VIZ[chart.kind]
    filters = []
    if chart.where:
        filters.append({"expressionType": "SQL", "clause": "WHERE", "sqlExpression": chart.where})
    params: dict[str, Any] = {"viz_type": viz, "adhoc_filters": filters, "extra_form_data": {}}
    metrics = [_metric(m) for m in chart.metrics]
    if chart.kind == "big_number":
        params.update(
            metric=metrics[0], header_font_size=0.4, subheader_font_size=0.15, y_axis_format=chart.number_format
        )
    elif chart.kind == "big_number_trend":
        # "raw" (Overall value): the figure is the metric over the whole filtered range (exact for a
        # ratio such as margin), the trend line and the comparison come from the time buckets.
        params.update(
            metric=metrics[0],
            x_axis=chart.x_axis,
            time_grain_sqla=chart.time_grain,
            aggregation="raw",
            compare_lag=chart.compare_lag,
            compare_suffix=chart.compare_suffix,
            show_trend_line=True,
            start_y_axis_at_zero=True,
            header_font_size=0.4,
            subheader_font_size=0.15,
            y_axis_format=chart.number_format,
        )
    elif chart.kind == "table":
        if chart.columns:
            params.update(
                query_mode="raw",
                all_columns=list(chart.columns),
                row_limit=1000,
                order_by_cols=[f'["{chart.order_by}", false]'] if chart.order_by else [],
            )
        else:
            params.update(
                query_mode="aggregate", groupby=list(chart.groupby), metrics=metrics, row_limit=1000, order_desc=True
            )
    else:
        x_axis = chart.x_axis or chart.groupby[0]
        groupby = [g for g in chart.groupby if g != x_axis]
        params.update(
            x_axis=x_axis,
            metrics=metrics,
            groupby=groupby,
            row_limit=10000,
            show_legend=True,
            y_axis_format=chart.number_format,
            rich_tooltip=True,
        )
        if chart.x_axis and chart.x_axis == DATASETS[chart.dataset].time_column:
            params.update(time_grain_sqla=chart.time_grain, x_axis_sort_asc=True)
    return params


def chart_yaml(chart: Chart) -> dict[str, Any]:
    return {
        "slice_name": chart.title,
        "description": f"Dataset {chart.dataset} (grain: {DATASETS[chart.dataset].grain}).",
        "viz_type": VIZ[chart.kind],
        "params": chart_params(chart),
        "query_context": None,
        "cache_timeout": None,
        "uuid": chart_uuid(chart),
        "dataset_uuid": dataset_uuid(chart.dataset),
        "version": VERSION,
    }


def _rows(dash: Dashboard) -> list[list[Chart]]:
    rows: list[list[Chart]] = [[]]
    for chart in dash.charts:
        if sum(c.width for c in rows[-1]) + chart.width > 12:
            rows.append([])
        rows[-1].append(chart)
    return rows


def chart_numbers(dash: Dashboard) -> dict[str, int]:
    """Chart key -> its ``chartId`` in the bundle's position (row order), which the importer maps
    to the imported chart's id wherever the metadata refers to a chart."""
    return {chart.key: no for no, chart in enumerate((c for row in _rows(dash) for c in row), start=1)}


def filter_id(flt: Filter) -> str:
    # Superset recognises native filters by this prefix.
    return f"NATIVE_FILTER-{flt.key}"


def native_filter(dash: Dashboard, flt: Filter) -> dict[str, Any]:
    """One native filter in Superset's dashboard metadata. Its scope is the whole dashboard minus the
    charts whose dataset lacks the column (by their ids in the bundle's position, which the importer
    maps to the imported ids); provisioning then writes ``chartsInScope`` with the imported ids."""
    in_scope = {chart.key for chart in dash.in_scope(flt)}
    excluded = sorted(no for key, no in chart_numbers(dash).items() if key not in in_scope)
    config: dict[str, Any] = {
        "id": filter_id(flt),
        "name": flt.title,
        "type": "NATIVE_FILTER",
        "description": "",
        "cascadeParentIds": [],
        "scope": {"rootPath": ["ROOT_ID"], "excluded": excluded},
        "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
    }
    if flt.kind == "time":
        config.update(filterType="filter_time", targets=[{}], controlValues={})
    else:
        config.update(
            filterType="filter_select",
            targets=[{"datasetUuid": dataset_uuid(str(flt.dataset)), "column": {"name": flt.column}}],
            controlValues={
                "enableEmptyFilter": False,
                "defaultToFirstItem": False,
                "multiSelect": flt.multi,
                "searchAllOptions": False,
                "inverseSelection": False,
            },
        )
    return config


def dashboard_yaml(dash: Dashboard) -> dict[str, Any]:
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "HEADER_ID": {"type": "HEADER", "id": "HEADER_ID", "meta": {"text": dash.title}},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
    }
    numbers = chart_numbers(dash)
    for row_no, row in enumerate(_rows(dash), start=1):
        row_id = f"ROW-{dash.slug}-{row_no}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for chart in row:
            chart_id = f"CHART-{chart.key}"
            position[row_id]["children"].append(chart_id)
            # chartId is rewritten to the imported chart's id; the importer needs it present.
            position[chart_id] = {
                "type": "CHART",
                "id": chart_id,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {
                    "chartId": numbers[chart.key],
                    "uuid": chart_uuid(chart),
                    "width": chart.width,
                    "height": 30 if chart.kind == "big_number" else 50,
                    "sliceName": chart.title,
                },
            }
    return {
        "dashboard_title": dash.title,
        "description": dash.description or None,
        "slug": dash.slug,
        "css": "",
        "published": True,
        "certified_by": "",
        "certification_details": "",
        "position": position,
        "metadata": {
            "refresh_frequency": dash.refresh_seconds,
            "timed_refresh_immune_slices": [],
            "expanded_slices": {},
            "color_scheme": "",
            "label_colors": {},
            "shared_label_colors": [],
            "cross_filters_enabled": False,
            "native_filter_configuration": [native_filter(dash, f) for f in dash.filters],
            "chart_configuration": {},
            "default_filters": "{}",
        },
        "uuid": dashboard_uuid(dash),
        "version": VERSION,
    }


def render() -> dict[str, str]:
    """Relative path -> YAML text of every file of the bundle."""
    check()
    used = {chart.dataset for dash in DASHBOARDS for chart in dash.charts}
    used |= {str(f.dataset) for dash in DASHBOARDS for f in dash.filters if f.dataset}
    files: dict[str, Any] = {
        "metadata.yaml": {"version": VERSION, "type": "Dashboard", "timestamp": "2026-01-01T00:00:00+00:00"},
        f"databases/{DATABASE_NAME}.yaml": database_yaml(),
    }
    for view in sorted(used):
        files[f"datasets/{DATABASE_NAME}/{view}.yaml"] = dataset_yaml(DATASETS[view])
    for dash in DASHBOARDS:
        files[f"dashboards/{dash.slug}.yaml"] = dashboard_yaml(dash)
        for chart in dash.charts:
            files[f"charts/{chart.key}.yaml"] = chart_yaml(chart)
    header = "# Rendered from retail_platform/bi/catalog.py by `python -m retail_platform.bi.bundle`.\n"
    return {path: header + yaml.safe_dump(doc, sort_keys=True, width=120) for path, doc in files.items()}


def write(directory: Path = BUNDLE_DIR) -> None:
    rendered = render()
    for old in directory.rglob("*.yaml") if directory.exists() else ():
        if str(old.relative_to(directory)) not in rendered:
            old.unlink()
    for path, text in rendered.items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def zip_bundle(directory: Path = BUNDLE_DIR) -> bytes:
    """The committed YAML as the zip Superset imports (one root folder, as its exports have)."""
    files = sorted(directory.rglob("*.yaml"))
    if not files:
        raise FileNotFoundError(f"no bundle under {directory}; run `python -m retail_platform.bi.bundle`")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.writestr(f"retail_bundle/{path.relative_to(directory)}", path.read_text())
    return buffer.getvalue()


if __name__ == "__main__":
    write()
    print(f"bundle written to {BUNDLE_DIR}", file=sys.stderr)
