"""The simulator against the real broker and warehouse: every message it reports is in the topics,
keyed by store, with the declared faults; the catalogue load is idempotent."""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone

import pytest
from kafka import KafkaConsumer, TopicPartition

from retail_platform.events.contracts import event_type_for_topic, rejection_reason
from retail_platform.settings import Settings
from retail_platform.simulation import batch as b
from retail_platform.simulation.catalog import CatalogConfig, generate_catalog
from retail_platform.simulation.catalog_load import landing_dir, load_catalog
from retail_platform.simulation.faults import FaultRates
from retail_platform.simulation.ground_truth import GroundTruth
from retail_platform.simulation.producer import SimulationConfig, run_simulation

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.warehouse]

FAULTS = FaultRates(duplicates=0.02, late=0.02, out_of_order=0.02, malformed=0.01, invalid=0.01)


def _partitions(consumer: KafkaConsumer) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t in b.TOPICS for p in sorted(consumer.partitions_for_topic(t) or ())]


def _consume(settings: Settings, start: dict[TopicPartition, int], end: dict[TopicPartition, int]) -> list:
    """Records between the offsets (this run's messages: tests in a session run one at a time)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        wanted = [tp for tp in start if end[tp] > start[tp]]
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, start[tp])
        total = sum(end[tp] - start[tp] for tp in wanted)
        records = []
        deadline = time.monotonic() + 60
        while len(records) < total and time.monotonic() < deadline:
            for tp, batch in consumer.poll(timeout_ms=1000, max_records=5000).items():
                records.extend(r for r in batch if r.offset < end[tp])
        return records
    finally:
        consumer.close()


def test_simulated_messages_arrive_as_the_ground_truth_says(kafka, warehouse, tmp_path):
    probe = KafkaConsumer(bootstrap_servers=kafka.kafka_bootstrap)
    partitions = _partitions(probe)
    before = probe.end_offsets(partitions)
    config = SimulationConfig(
        stores=4, products=12, seed=31, speed=math.inf, start=datetime(2025, 6, 3, 15, tzinfo=timezone.utc),
        events=4000, faults=FAULTS, ground_truth_path=tmp_path / "truth.json", load_catalog=True,
    )  # fmt: skip
    truth = run_simulation(kafka, config)
    after = probe.end_offsets(partitions)
    probe.close()

    assert truth.final and truth.send_errors == 0 and truth.reconciliation_errors() == []
    assert GroundTruth.read(tmp_path / "truth.json") == truth
    produced = Counter({tp.topic: 0 for tp in partitions})
    for tp in partitions:
        produced[tp.topic] += after[tp] - before[tp]
    assert dict(produced) == truth.produced
    assert sum(truth.fault_summary().values()) > 0

    records = _consume(kafka, before, after)
    assert len(records) == sum(truth.produced.values())
    store_ids = {s.encode() for s in truth.store_ids}
    partitions_of_key: dict[tuple[str, bytes], set[int]] = defaultdict(set)
    seen: set[str] = set()
    duplicates, reasons, events = Counter(), Counter(), Counter()
    for record in records:
        assert record.key in store_ids
        partitions_of_key[(record.topic, record.key)].add(record.partition)
        reason = rejection_reason(record.value, event_type_for_topic(record.topic).name)
        if reason:
            reasons[reason] += 1
            continue
        event = json.loads(record.value)
        assert record.key == event["store_id"].encode()
        if event["event_id"] in seen:
            duplicates[record.topic] += 1
        else:
            seen.add(event["event_id"])
            events[event["event_type"]] += 1
    assert all(len(p) == 1 for p in partitions_of_key.values()), "a store's messages stay in one partition"
    assert reasons == Counter(truth.malformed) + Counter(truth.invalid)
    assert events == Counter({k: v for k, v in truth.events.items() if v})
    assert duplicates == Counter({k: v for k, v in truth.duplicates.items() if v})


def _in(ids: list[str]) -> str:
    return "(" + ",".join(f"'{i}'" for i in ids) + ")"  # generated ids: [a-zA-Z0-9_] only


def test_loading_the_catalogue_twice_leaves_one_current_row_per_key(warehouse, warehouse_client_factory):
    catalog = generate_catalog(CatalogConfig(seed=31, stores=4, products=12))
    load_catalog(catalog, warehouse)
    load_catalog(catalog, warehouse)
    # Another seed, same sizes: the same keys with other attributes replace, never add.
    load_catalog(generate_catalog(CatalogConfig(seed=32, stores=4, products=12)), warehouse)
    load_catalog(catalog, warehouse)
    client = warehouse_client_factory()
    products = _in(catalog.product_ids)
    stores = _in(catalog.store_ids)

    current = client.query(
        f"SELECT product_id, count() FROM dim_product FINAL WHERE is_current AND product_id IN {products} "
        "GROUP BY product_id"
    ).result_rows
    assert sorted(current) == [(p, 1) for p in catalog.product_ids]
    policies = client.query(
        f"SELECT store_id, product_id, count(), any(reorder_point), any(order_quantity) FROM rt_reorder_policy FINAL "
        f"WHERE store_id IN {stores} AND product_id IN {products} GROUP BY store_id, product_id"
    ).result_rows
    assert len(policies) == 4 * 12 and all(row[2] == 1 for row in policies)
    expected = {
        (s, p): (int(catalog.reorder_point[i, j]), int(catalog.order_quantity[i, j]))
        for i, s in enumerate(catalog.store_ids)
        for j, p in enumerate(catalog.product_ids)
    }
    assert {(r[0], r[1]): (r[3], r[4]) for r in policies} == expected
    assert client.query(f"SELECT count() FROM dim_store FINAL WHERE store_id IN {stores}").result_rows == [(4,)]
    suppliers = _in([s.supplier_id for s in catalog.suppliers])
    assert client.query(f"SELECT count() FROM dim_supplier FINAL WHERE supplier_id IN {suppliers}").result_rows == [
        (len(catalog.suppliers),)
    ]
    manifest = json.loads((landing_dir(warehouse) / "_manifest.json").read_text())
    assert manifest["fingerprint"] == catalog.fingerprint
