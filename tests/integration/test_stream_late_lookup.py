"""The stream's late-duplicate lookup (``sink.Warehouse.seen_event_ids``) on the real warehouse: for
any ids already in rt_event_ids and any probes, the ids found are exactly those an earlier batch
accepted under the probed key, whether the early ids of the probed hours are read whole or, past
``EARLY_IDS_READ_LIMIT``, every probe is sent as a literal; the batch's own rows (a replay) never
count."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail_platform.streaming import sink, tables
from retail_platform.streaming.sink import Warehouse
from retail_platform.warehouse.client import connect

pytestmark = [pytest.mark.integration, pytest.mark.warehouse]

QUERY = "late-lookup-query"
BATCH = 40
# Hours of 2001: no other test writes them, so the early ids read for them are this test's alone.
FIRST_HOUR = 978_307_200

ids = st.integers(0, 11)
hours = st.integers(0, 2).map(lambda h: FIRST_HOUR + 3600 * h)
# A stored row: early, hour, id, and whose batch it was (this query's earlier batch, this query's
# current batch or a later one = a replay, another query's).
stored = st.tuples(
    st.sampled_from([0, 1]), hours, ids, st.sampled_from([(QUERY, 39), (QUERY, BATCH), (QUERY, 41), ("other", 99)])
)
probed = st.tuples(st.sampled_from([0, 1]), hours, ids)


@pytest.fixture(scope="module")
def client(warehouse):
    c = connect(warehouse)
    yield c
    c.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(stored, max_size=20), probes=st.lists(probed, min_size=1, max_size=20))
def test_found_ids_are_the_earlier_batches_under_the_probed_keys(client, monkeypatch, rows, probes):
    run = uuid.uuid4().hex[:8]  # the run's ids are its own: examples never see each other's rows
    name = {n: f"{run}-{n}" for n in range(12)}
    now = datetime.now(timezone.utc)
    client.insert(
        tables.EVENT_IDS.name,
        [[early, hour, name[n], "sales_transaction", now, query, batch] for early, hour, n, (query, batch) in rows],
        column_names=tables.EVENT_IDS.column_names,
    )
    keys = sorted({(early, hour, name[n]) for early, hour, n in probes})
    expected = {
        name[n]
        for early, hour, n, (query, batch) in rows
        if (early, hour, name[n]) in keys and not (query == QUERY and batch >= BATCH)
    }
    lookup = Warehouse(client, QUERY)
    assert lookup.seen_event_ids(BATCH, keys) == expected
    with monkeypatch.context() as patched:
        patched.setattr(sink, "EARLY_IDS_READ_LIMIT", 0)  # early ids found: every probe sent as a literal
        assert lookup.seen_event_ids(BATCH, keys) == expected
