"""The dashboards as code: the catalog is consistent, and the committed Superset bundle is what
the catalog renders (edit the catalog, then `python -m retail_platform.bi.bundle`)."""

from __future__ import annotations

import io
import zipfile

import pytest
import yaml

from retail_platform.bi import bundle, catalog


def test_catalog_is_consistent():
    catalog.check()


def test_every_dataset_is_a_bi_view():
    assert all(view.startswith("v_") for view in catalog.DATASETS)


def test_the_five_dashboards():
    assert {d.slug for d in catalog.DASHBOARDS} == {
        "executive", "store-manager", "inventory-analyst", "ml-performance", "operations"
    }  # fmt: skip
    store_manager = next(d for d in catalog.DASHBOARDS if d.slug == "store-manager")
    assert 0 < store_manager.refresh_seconds <= 60


def test_committed_bundle_is_current():
    rendered = bundle.render()
    committed = {str(p.relative_to(bundle.BUNDLE_DIR)): p.read_text() for p in bundle.BUNDLE_DIR.rglob("*.yaml")}
    stale = sorted(set(rendered) ^ set(committed) | {k for k in rendered if committed.get(k) != rendered[k]})
    assert not stale, f"run `python -m retail_platform.bi.bundle`: {stale}"


def test_dashboard_positions_name_each_chart_with_id_and_uuid():
    for dash in catalog.DASHBOARDS:
        position = bundle.dashboard_yaml(dash)["position"]
        charts = {v["meta"]["uuid"] for k, v in position.items() if k.startswith("CHART-")}
        assert charts == {bundle.chart_uuid(c) for c in dash.charts}
        assert all("chartId" in v["meta"] for k, v in position.items() if k.startswith("CHART-"))


def test_zip_has_one_root_folder_and_no_password():
    data = bundle.zip_bundle()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        database = yaml.safe_load(archive.read(f"retail_bundle/databases/{bundle.DATABASE_NAME}.yaml"))
    assert all(name.startswith("retail_bundle/") for name in names)
    assert "retail_bundle/metadata.yaml" in names
    assert ":" not in database["sqlalchemy_uri"].split("//", 1)[1].split("@")[0]
    assert database["allow_dml"] is False


def test_a_chart_on_an_unknown_column_is_refused(monkeypatch):
    bad = catalog.Chart("x", "X", "v_store_daily", "table", (), columns=("nope",))
    monkeypatch.setattr(catalog, "DASHBOARDS", (catalog.Dashboard("d", "D", (bad,)),))
    with pytest.raises(ValueError, match="has no column nope"):
        catalog.check()


def test_the_executive_filters_date_range_region_and_category():
    executive = next(d for d in catalog.DASHBOARDS if d.slug == "executive")
    assert {(f.kind, f.column) for f in executive.filters} == {
        ("time", None),
        ("select", "region"),
        ("select", "category"),
    }


def test_each_native_filter_leaves_out_exactly_the_charts_whose_dataset_lacks_its_column():
    for dash in catalog.DASHBOARDS:
        position = bundle.dashboard_yaml(dash)["position"]
        ids = {v["meta"]["uuid"]: v["meta"]["chartId"] for k, v in position.items() if k.startswith("CHART-")}
        configs = bundle.dashboard_yaml(dash)["metadata"]["native_filter_configuration"]
        assert [c["id"] for c in configs] == [bundle.filter_id(f) for f in dash.filters]
        for flt, config in zip(dash.filters, configs, strict=True):
            lacking = {
                ids[bundle.chart_uuid(c)]
                for c in dash.charts
                if not (
                    catalog.DATASETS[c.dataset].time_column
                    if flt.kind == "time"
                    else flt.column in catalog.DATASETS[c.dataset].columns
                )
            }
            assert set(config["scope"]["excluded"]) == lacking, (dash.slug, flt.key)
            assert len(lacking) < len(dash.charts), (dash.slug, flt.key)
            if flt.kind == "select":
                [target] = config["targets"]
                assert target == {"datasetUuid": bundle.dataset_uuid(str(flt.dataset)), "column": {"name": flt.column}}


def test_a_filter_on_a_column_no_chart_has_is_refused(monkeypatch):
    chart = catalog.Chart("x", "X", "v_store_daily", "big_number", ("SUM(revenue)",))
    flt = catalog.Filter("f", "F", "select", "category", "v_category_daily")
    monkeypatch.setattr(catalog, "DASHBOARDS", (catalog.Dashboard("d", "D", (chart,), filters=(flt,)),))
    with pytest.raises(ValueError, match="no chart of d has its column"):
        catalog.check()


def test_the_executive_trends_compare_the_newest_week_with_the_one_before():
    executive = next(d for d in catalog.DASHBOARDS if d.slug == "executive")
    trends = [c for c in executive.charts if c.kind == "big_number_trend"]
    assert {c.title for c in trends} == {"Revenue", "Units sold", "Gross margin (closed days)"}
    for chart in trends:
        params = bundle.chart_params(chart)
        assert params["viz_type"] == "big_number" and params["aggregation"] == "raw"  # the figure: whole range
        assert (params["time_grain_sqla"], params["compare_lag"]) == ("P1W", 1)
