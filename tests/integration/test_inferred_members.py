"""Late-arriving dimension members against a real warehouse endpoint and an in-process Spark session.

One simulated day of the shared tiny fleet (3 stores x 10 products) in which every event of one
product and of one store carries a key the dimensions do not hold (SKU9901, store_901), with the
speed layer's rows for every event (as the stream, which checks no dimension, wrote them). The daily
load loads every sale (the facts equal the speed layer), creates and flags the inferred members and
lists them; then the catalogue delivers the product (dated after the day: its first version covers the
time before it) and the store, the members are filled in, the day is listed for a recompute, and the
recompute gives the real category and cost."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from retail_platform.batch import daily
from retail_platform.batch.facts import cents
from retail_platform.lake import day_predicate
from retail_platform.simulation.bronze_history import HistoryConfig, generate_days
from retail_platform.simulation.catalog_load import load_warehouse
from retail_platform.sources import catalogue
from retail_platform.sources.readers import read_file

pytestmark = [pytest.mark.integration, pytest.mark.warehouse, pytest.mark.spark]

_TODAY = datetime.now(timezone.utc).date()
# The catalogue the other daily-load modules use; a day none of them loads (test_backfill ends at
# today-12, test_daily_etl starts at today-7).
DAY = _TODAY - timedelta(days=9)
CONFIG = HistoryConfig(end_date=DAY, days=1, stores=3, products=10, seed=21, lines_per_store_hour=8)
PRODUCT, STORE = "SKU9901", "store_901"
TYPES = ("sales_transaction", "inventory_update")


@pytest.fixture(scope="module")
def client(warehouse):
    from retail_platform.warehouse.client import connect

    c = connect(warehouse)
    yield c
    for table, key, value in (("dim_product", "product_id", PRODUCT), ("dim_store", "store_id", STORE)):
        c.command(f"DELETE FROM {table} WHERE {key} = %(v)s", parameters={"v": value})
    c.close()


@pytest.fixture(scope="module")
def bronze(warehouse, spark, client) -> dict[str, pa.Table]:
    """The day's bronze rows, one catalogue product and one store renamed to keys no dimension holds,
    written to bronze; the speed layer's 5-minute rows of every sale."""
    from retail_platform.streaming.bronze import event_columns, table_path, with_day

    catalog = CONFIG.catalog()
    load_warehouse(catalog, warehouse, client)
    renamed_product, renamed_store = catalog.product_ids[-1], catalog.store_ids[-1]
    ((day, tables),) = list(generate_days(CONFIG, catalog))
    assert day == DAY
    out = {}
    for event_type in TYPES:
        table = tables[event_type]
        rows = table.to_pylist()
        for row in rows:
            row["product_id"] = PRODUCT if row["product_id"] == renamed_product else row["product_id"]
            row["store_id"] = STORE if row["store_id"] == renamed_store else row["store_id"]
        out[event_type] = pa.Table.from_pylist(rows, table.schema)
        frame = with_day(spark.createDataFrame(out[event_type])).select(*event_columns(event_type))
        (
            frame.write.format("delta")
            .mode("overwrite")
            .partitionBy("year", "month", "day")
            .option("replaceWhere", day_predicate(DAY))
            .save(table_path(warehouse, event_type))
        )
    windows: dict[tuple, list] = defaultdict(lambda: [0, Decimal("0.00"), 0])
    for row in out["sales_transaction"].to_pylist():
        at = row["event_time"]
        at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
        w = windows[(row["store_id"], row["product_id"], at.replace(minute=at.minute - at.minute % 5, second=0,
                                                                     microsecond=0))]  # fmt: skip
        w[0] += row["quantity"]
        w[1] += row["quantity"] * cents(row["unit_price"])
        w[2] += 1
    client.insert(
        "rt_sales_5min",
        [[*k, *v] for k, v in windows.items()],
        column_names=["store_id", "product_id", "window_start", "units", "revenue", "transactions"],
    )
    return out


@pytest.fixture(scope="module")
def first_load(warehouse, spark, bronze):
    return daily.run_day(spark, warehouse, DAY)


def _scalar(client, sql: str, **parameters):
    return client.query(sql, parameters=parameters).result_rows[0][0]


def _sales_of(client, key: str, value: str) -> list[tuple]:
    return client.query(
        f"SELECT category, unit_cost, count(), sum(quantity), sum(revenue), sum(profit) FROM fact_sales FINAL "
        f"WHERE date_key = %(d)s AND {key} = %(v)s GROUP BY category, unit_cost",
        parameters={"d": DAY, "v": value},
    ).result_rows


def test_every_sale_is_loaded_and_the_layers_agree(first_load, client, bronze):
    sales = bronze["sales_transaction"].to_pylist()
    assert any(r["product_id"] == PRODUCT for r in sales) and any(r["store_id"] == STORE for r in sales)
    r = first_load.types["sales_transaction"]
    assert r.quarantined == 0 and r.accepted == len(sales)
    assert first_load.types["inventory_update"].quarantined == 0
    revenue = sum(row["quantity"] * cents(row["unit_price"]) for row in sales)
    assert _scalar(client, "SELECT sum(revenue) FROM fact_sales FINAL WHERE date_key = %(d)s", d=DAY) == revenue
    assert _scalar(client, "SELECT count() FROM fact_sales FINAL WHERE date_key = %(d)s", d=DAY) == len(sales)
    # The stream counted them too: the load's reconciliation with the speed layer finds no difference.
    reconciled = {c.name: c.value for c in first_load.checks if c.name.startswith("reconciliation")}
    assert reconciled == {"reconciliation:units": 0.0, "reconciliation:revenue": 0.0}
    served = client.query(
        "SELECT sum(revenue), groupUniqArray(source) FROM v_sales_daily WHERE date = %(d)s", parameters={"d": DAY}
    ).result_rows[0]
    assert served == (revenue, ["batch"])


def test_the_inferred_members_exist_flagged_with_placeholder_attributes(first_load, client, bronze):
    assert first_load.summary()["inferred_members"]["stores_created"] == [STORE]
    assert first_load.summary()["inferred_members"]["products_created"] == [PRODUCT]
    store = client.query(
        "SELECT is_inferred, store_name, region FROM dim_store FINAL WHERE store_id = %(s)s", parameters={"s": STORE}
    ).result_rows
    assert store == [(True, STORE, "Unknown")]
    product = client.query(
        "SELECT is_inferred, category, supplier_id, unit_cost, toYear(valid_from), is_current FROM dim_product FINAL "
        "WHERE product_id = %(p)s",
        parameters={"p": PRODUCT},
    ).result_rows
    assert product == [(True, "Unknown", "UNKNOWN", Decimal("0.00"), 1970, True)]
    # The product's lines: placeholder category, cost 0, profit = revenue.
    ((category, unit_cost, lines, _, revenue, profit),) = _sales_of(client, "product_id", PRODUCT)
    assert (category, unit_cost, profit) == ("Unknown", Decimal("0.00"), revenue)
    snapshots = client.query(
        "SELECT DISTINCT category, supplier_id FROM fact_inventory FINAL WHERE date_key = %(d)s AND product_id = %(p)s",
        parameters={"d": DAY, "p": PRODUCT},
    ).result_rows
    assert snapshots == [("Unknown", "UNKNOWN")]  # its stock is valued (at 0), not dropped

    members = client.query(
        "SELECT kind, member_key, first_seen, sale_lines, revenue FROM v_inferred_members "
        "WHERE member_key IN (%(p)s, %(s)s) ORDER BY kind",
        parameters={"p": PRODUCT, "s": STORE},
    ).result_rows
    store_sales = _sales_of(client, "store_id", STORE)  # (category, unit_cost, lines, units, revenue, profit)
    store_lines, store_revenue = sum(row[2] for row in store_sales), sum(row[4] for row in store_sales)
    assert members == [("product", PRODUCT, DAY, lines, revenue), ("store", STORE, DAY, store_lines, store_revenue)]
    check = client.query(
        "SELECT value, passed FROM dq_results WHERE run_id = %(r)s AND check_name = 'inferred_members'",
        parameters={"r": first_load.batch_id},
    ).result_rows
    assert check == [(float(lines + store_lines - _both(client)), True)]


def _both(client) -> int:
    """Lines of the inferred product sold in the inferred store (counted once in the check)."""
    return _scalar(
        client,
        "SELECT count() FROM fact_sales FINAL WHERE date_key = %(d)s AND product_id = %(p)s AND store_id = %(s)s",
        d=DAY,
        p=PRODUCT,
        s=STORE,
    )


def test_a_rerun_creates_no_member_again(first_load, spark, warehouse, client):
    again = daily.run_day(spark, warehouse, DAY)
    assert again.summary()["inferred_members"]["stores_created"] == []
    assert again.summary()["inferred_members"]["products_created"] == []
    assert _scalar(client, "SELECT count() FROM dim_product WHERE product_id = %(p)s", p=PRODUCT) == 1


def test_the_catalogue_fills_the_members_in_and_a_recompute_gives_the_real_attributes(
    first_load, spark, warehouse, client, tmp_path
):
    revenue_before = _scalar(client, "SELECT sum(revenue) FROM fact_sales FINAL WHERE date_key = %(d)s", d=DAY)
    file = tmp_path / "products.csv"
    file.write_text(
        "product_id,product_name,category,supplier_id,unit_cost,unit_price\n"
        f"{PRODUCT},Sea Salt Crisps,Snacks,SUP001,0.75,1.99\n",
        encoding="utf-8",
    )
    products, rejects = catalogue.to_products(read_file(file))
    assert rejects == []
    plan = catalogue.load_products(client, warehouse.clickhouse_database, products, "catalogue-it")
    assert plan.filled == [PRODUCT] and plan.rejects == []
    # Dated at load time, i.e. after the day's sales: the first version covers them.
    history = client.query(
        "SELECT is_inferred, category, unit_cost, valid_from > %(d)s FROM dim_product FINAL WHERE product_id = %(p)s",
        parameters={"p": PRODUCT, "d": datetime.combine(DAY + timedelta(days=1), datetime.min.time())},
    ).result_rows
    assert history == [(False, "Snacks", Decimal("0.75"), True)]
    # The store arrives through the simulator's catalogue path: a plain dim_store row (newer version).
    client.insert(
        "dim_store",
        [[STORE, "Harbour Road", "express", "Porto", "North", "PT", datetime.now(timezone.utc), "catalog-it"]],
        column_names=["store_id", "store_name", "store_type", "city", "region", "country", "updated_at", "batch_id"],
    )
    assert client.query(
        "SELECT is_inferred, region FROM dim_store FINAL WHERE store_id = %(s)s", parameters={"s": STORE}
    ).result_rows == [(False, "North")]
    listed = client.query(
        "SELECT member_key FROM v_inferred_members WHERE member_key IN (%(p)s, %(s)s)",
        parameters={"p": PRODUCT, "s": STORE},
    ).result_rows
    assert listed == []

    # The days whose facts carry the placeholder: returned by the load and queryable.
    assert plan.recompute_days == [DAY]
    days = client.query(
        "SELECT day, sale_lines > 0, snapshot_rows > 0 FROM v_inferred_recompute_days WHERE product_id = %(p)s",
        parameters={"p": PRODUCT},
    ).result_rows
    assert days == [(DAY, True, True)]

    recomputed = daily.run_day(spark, warehouse, DAY)
    assert recomputed.summary()["inferred_members"]["products_created"] == []
    ((category, unit_cost, _, units, revenue, profit),) = _sales_of(client, "product_id", PRODUCT)
    assert (category, unit_cost, profit) == ("Snacks", Decimal("0.75"), revenue - units * Decimal("0.75"))
    assert _scalar(client, "SELECT sum(revenue) FROM fact_sales FINAL WHERE date_key = %(d)s", d=DAY) == revenue_before
    snapshots = client.query(
        "SELECT DISTINCT category FROM fact_inventory FINAL WHERE date_key = %(d)s AND product_id = %(p)s",
        parameters={"d": DAY, "p": PRODUCT},
    ).result_rows
    assert snapshots == [("Snacks",)]
    assert client.query(
        "SELECT count() FROM v_inferred_recompute_days WHERE product_id = %(p)s", parameters={"p": PRODUCT}
    ).result_rows == [(0,)]
    category_day = client.query(
        "SELECT category FROM v_category_daily WHERE date = %(d)s AND category IN ('Snacks', 'Unknown')",
        parameters={"d": DAY},
    ).result_rows
    assert category_day == [("Snacks",)]
