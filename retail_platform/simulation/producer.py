"""Running a simulation into Kafka: configuration, the Kafka sink, pacing, progress and ground truth.

``run_simulation(settings, config)`` generates events (generator.py), injects faults (faults.py),
sends them at the configured pace and returns the ground truth (ground_truth.py), which it also
writes to ``config.ground_truth_path`` every few seconds and at the end.

Rates and speed:

* ``rate`` (events/s, whole fleet) or ``rate_per_store_per_min`` set the *real* send rate averaged
  over the stores' opening hours. The catalogue's demand level is derived from it: about two events
  per sale line (sales_transaction + inventory_update), so
  ``lines_per_store_hour = rate_per_store_per_min * 60 / 2 / speed``. The live rate follows the
  demand process: lunch and evening peaks, nothing from a store while it is closed.
* ``speed``: simulated seconds per real second. 1 (default) sends each event when its event_time is
  now; 60 plays an hour per minute; ``math.inf`` sends as fast as possible (benchmarks, tests).

Producer: kafka-python with ``acks='all'`` and ``enable_idempotence=True`` (a retried batch is not
written twice), keyed by store_id so a store's events stay in one partition in order; the partition
is computed once per store with the Java client's murmur2 partitioner (what the producer would do
per message) and passed explicitly, which saves most of the client's per-message cost. lz4
compression: the client builds compressed batches faster than uncompressed ones (measured ~3x), and
Spark's Kafka source reads them natively. The message timestamp is left to the producer (send time):
a simulated event_time from the past as Kafka timestamp would make the broker's 7-day retention
delete history-mode messages immediately.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np

from retail_platform.settings import Settings
from retail_platform.simulation import batch as b
from retail_platform.simulation.calendar import from_ms, iso_z, to_ms
from retail_platform.simulation.catalog import Catalog, CatalogConfig, generate_catalog
from retail_platform.simulation.faults import DemandBurst, FaultInjector, FaultRates, Outgoing, StockCount
from retail_platform.simulation.generator import VALID_STEPS, EventGenerator, GeneratorConfig
from retail_platform.simulation.ground_truth import INVALID, MALFORMED, GroundTruth

EVENTS_PER_SALE_LINE = 2.0  # sales_transaction + inventory_update; deliveries, prices etc. add < 1 %
DEFAULT_RATE_PER_STORE_PER_MIN = 300.0  # seed 004: 100-500 events per minute per store
MAX_EVENTS_PER_STEP = 40_000  # bounds the memory of one generated step
MAX_REAL_SECONDS_PER_STEP = 2.0  # bounds how long a clean stop waits at speed 1


@dataclass(frozen=True)
class SimulationConfig:
    stores: int = 5
    products: int = 50
    suppliers: int | None = None
    seed: int = 4
    rate: float | None = None  # events/s for the fleet (real time)
    rate_per_store_per_min: float | None = None  # events/min per store (real time)
    speed: float = 1.0  # simulated seconds per real second; math.inf = unpaced
    start: datetime | None = None  # simulated start; None = now
    duration: float | None = None  # real seconds (None: until events or a stop signal)
    events: int | None = None  # stop after this many valid events (faults are extra messages)
    faults: FaultRates = field(default_factory=FaultRates)
    stock_counts: tuple[StockCount, ...] = ()  # injected miscounts: unexplained stock movements
    demand_bursts: tuple[DemandBurst, ...] = ()  # injected runs on a product: sales velocity anomalies
    ground_truth_path: Path | None = None
    ground_truth_every: float = 5.0  # seconds between ground-truth snapshots
    load_catalog: bool = False
    step_seconds: int | None = None  # None: derived from the rate and speed
    progress: bool = False  # live progress line on stderr
    compression: str | None = "lz4"
    linger_ms: int = 20
    batch_size: int = 256 * 1024

    def __post_init__(self) -> None:
        if self.rate is not None and self.rate_per_store_per_min is not None:
            raise ValueError("give either rate or rate_per_store_per_min, not both")
        for name in ("rate", "rate_per_store_per_min", "duration"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        if not self.speed > 0:
            raise ValueError("speed must be positive (math.inf: as fast as possible)")
        if self.events is not None and self.events < 1:
            raise ValueError("events must be at least 1")

    @property
    def paced(self) -> bool:
        return math.isfinite(self.speed)

    @property
    def store_rate_per_min(self) -> float:
        """Target events per store per minute (real time)."""
        if self.rate is not None:
            return self.rate * 60.0 / self.stores
        return self.rate_per_store_per_min or DEFAULT_RATE_PER_STORE_PER_MIN

    @property
    def lines_per_store_hour(self) -> float:
        """The catalogue's demand level: sale lines per store per simulated open hour."""
        per_sim_min = self.store_rate_per_min / (self.speed if self.paced else 1.0)
        return per_sim_min * 60.0 / EVENTS_PER_SALE_LINE

    def catalog_config(self) -> CatalogConfig:
        return CatalogConfig(
            seed=self.seed,
            stores=self.stores,
            products=self.products,
            suppliers=self.suppliers,
            lines_per_store_hour=self.lines_per_store_hour,
        )

    def step(self) -> int:
        """Simulated seconds per generated step: a divisor of an hour, small enough that a step
        holds at most ~MAX_EVENTS_PER_STEP events at the lunch peak and, when paced, lasts at most
        MAX_REAL_SECONDS_PER_STEP of real time."""
        if self.step_seconds is not None:
            return self.step_seconds
        sim_events_per_s = self.stores * self.lines_per_store_hour * EVENTS_PER_SALE_LINE / 3600.0
        best = 1
        for d in VALID_STEPS:
            if sim_events_per_s * 2.0 * d > MAX_EVENTS_PER_STEP:
                break
            if self.paced and d / self.speed > MAX_REAL_SECONDS_PER_STEP:
                break
            best = d
        return best


class Sink(Protocol):
    """Where messages go: Kafka, or memory in tests."""

    errors: int

    def send_many(self, event_type: list[int], store: list[int], values: list[bytes]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps (topic, key, value) tuples; for tests and dry runs."""

    def __init__(self, store_ids: list[str]) -> None:
        self.keys = [s.encode() for s in store_ids]
        self.messages: list[tuple[str, bytes, bytes]] = []
        self.errors = 0

    def send_many(self, event_type: list[int], store: list[int], values: list[bytes]) -> None:
        topics, keys = b.TOPICS, self.keys
        self.messages.extend((topics[t], keys[s], v) for t, s, v in zip(event_type, store, values, strict=True))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class KafkaSink:
    """kafka-python producer tuned for throughput with exactly-once-per-send delivery to the log."""

    def __init__(self, settings: Settings, store_ids: list[str], config: SimulationConfig) -> None:
        from kafka import KafkaProducer
        from kafka.partitioner.default import murmur2

        from retail_platform.kafka_security import client_options

        self.producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id="retail-simulator",
            acks="all",
            enable_idempotence=True,
            retries=2**31 - 1,  # bounded by delivery_timeout_ms; idempotence makes retries safe
            max_in_flight_requests_per_connection=5,  # the most idempotence allows while keeping order
            linger_ms=config.linger_ms,
            batch_size=config.batch_size,
            compression_type=config.compression,
            max_request_size=4 * 1024 * 1024,
            **client_options(settings),
        )
        self.keys = [s.encode() for s in store_ids]
        self.partitions: list[list[int]] = []
        for topic in b.TOPICS:
            available = self.producer.partitions_for(topic)
            if not available:
                raise RuntimeError(f"topic {topic} does not exist; start the stack (python -m retail_platform up)")
            ordered = sorted(available)
            self.partitions.append([ordered[(murmur2(k) & 0x7FFFFFFF) % len(ordered)] for k in self.keys])
        self.errors = 0
        self.first_error: str | None = None

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = repr(exc)

    def send_many(self, event_type: list[int], store: list[int], values: list[bytes]) -> None:
        send, topics, keys, partitions, failed = self.producer.send, b.TOPICS, self.keys, self.partitions, self._failed
        for t, s, v in zip(event_type, store, values, strict=True):
            send(topics[t], value=v, key=keys[s], partition=partitions[t][s]).add_errback(failed)

    def flush(self) -> None:
        self.producer.flush()

    def close(self) -> None:
        self.producer.close()


class Progress:
    """A one-line live status on stderr, refreshed about once a second."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.last = self.started
        self.last_count = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, truth: GroundTruth, sim_ms: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self.last < 1.0:
            return
        produced = sum(truth.produced.values())
        live = (produced - self.last_count) / max(now - self.last, 1e-9)
        average = produced / max(now - self.started, 1e-9)
        f = truth.fault_summary()
        line = (
            f"{now - self.started:7.1f}s  {live:8.0f} ev/s (avg {average:.0f})  produced {produced}  "
            f"sim {iso_z(sim_ms)[:19]}Z  faults dup {f['duplicates']} late {f['late']} ooo {f['out_of_order']} "
            f"malformed {f['malformed']} invalid {f['invalid']}"
        )
        print(
            ("\r" + line + "\x1b[K") if self.tty else line, end="" if self.tty else "\n", file=self.stream, flush=True
        )
        self.last, self.last_count = now, produced

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=self.stream, flush=True)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop`` (main thread only) so the run ends cleanly: flush, write the truth."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Run:
    """One simulation run: the loop of generate -> faults -> paced send -> account."""

    def __init__(
        self, catalog: Catalog, config: SimulationConfig, sink: Sink, stop: threading.Event, log: Callable[[str], None]
    ) -> None:
        self.catalog = catalog
        self.config = config
        self.sink = sink
        self.stop = stop
        self.log = log
        start = config.start or datetime.now(timezone.utc)
        self.sim_start = to_ms(start)
        end = None
        if config.duration is not None and config.paced:
            end = from_ms(self.sim_start + int(config.duration * config.speed * 1000))
        self.generator = EventGenerator(
            catalog,
            GeneratorConfig(
                start=from_ms(self.sim_start),
                end=end,
                seed=config.seed,
                step_seconds=config.step(),
                stock_counts=config.stock_counts,
                demand_bursts=config.demand_bursts,
            ),
        )
        self.injector = FaultInjector(config.faults, seed=config.seed * 1_000_003 + self.sim_start)
        self.truth = GroundTruth.start(
            run_id=f"sim-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}",
            seed=config.seed,
            fingerprint=catalog.fingerprint,
            store_ids=catalog.store_ids,
            product_ids=catalog.product_ids,
            initial_stock=catalog.initial_stock,
        )
        self.truth.sim_start = iso_z(self.sim_start)
        self.progress = Progress(config.progress)
        self.real_start = time.monotonic()
        self.last_snapshot = self.real_start
        self.snapshot_cost = 0.0
        self.sim_now = self.sim_start

    def out_of_time(self) -> bool:
        c = self.config
        return c.duration is not None and not c.paced and time.monotonic() - self.real_start >= c.duration

    def send(self, out: Outgoing, paced: bool) -> None:
        """Send ``out`` in order; when paced, each message not before its due time. A stop request
        makes the rest go out at once (a step is at most a few seconds of traffic)."""
        n = len(out)
        if n == 0:
            return
        types, stores = out.event_type.tolist(), out.store.tolist()
        bad = (out.fault == MALFORMED) | (out.fault == INVALID)
        reasons_before = np.concatenate([[0], np.cumsum(bad)])  # reasons are listed in message order
        deadlines = self.real_start + (out.due_ms - self.sim_start) / 1000.0 / self.config.speed if paced else None
        i = 0
        while i < n:
            if deadlines is not None and not self.stop.is_set():
                now = time.monotonic()
                j = int(np.searchsorted(deadlines, now, side="right"))
                if j <= i:
                    time.sleep(min(float(deadlines[i]) - now, 0.05))
                    self.progress.update(self.truth, self.sim_now)
                    continue
                j = min(j, i + 2000)
            else:
                j = min(n, i + 5000)
            self.sink.send_many(types[i:j], stores[i:j], out.values[i:j])
            self.truth.add_sent(out.event_type[i:j], out.fault[i:j], out.reasons[reasons_before[i] : reasons_before[j]])
            i = j
            self.progress.update(self.truth, self.sim_now)

    def snapshot(self) -> None:
        """A non-final ground truth every few seconds; for huge fleets (a write of 200k store/products
        takes ~0.5 s) at most ~2 % of the time, so snapshots never throttle the producer."""
        path = self.config.ground_truth_path
        now = time.monotonic()
        interval = max(self.config.ground_truth_every, 50.0 * self.snapshot_cost)
        if path is None or now - self.last_snapshot < interval:
            return
        self.truth.held = self.injector.held
        self.truth.sim_end = iso_z(self.sim_now)
        self.truth.write(path)
        self.last_snapshot = time.monotonic()
        self.snapshot_cost = self.last_snapshot - now

    def run(self) -> GroundTruth:
        config, gen = self.config, self.generator
        budget = config.events
        for rows in gen.batches():
            if budget is not None:
                cut = rows.cut_after_messages(budget)
                if cut < len(rows):
                    rows = rows.take(slice(0, cut))
                budget -= rows.n_messages
            self.sim_now = gen.step_end_ms
            if budget is not None and budget <= 0 and len(rows):
                self.sim_now = int(rows.time_ms[-1]) + 1
            messages = gen.encoder.encode(rows)
            out = self.injector.process(messages, horizon_ms=self.sim_now)
            self.truth.add_rows(rows)
            self.send(out, config.paced)
            self.snapshot()
            if self.stop.is_set() or (budget is not None and budget <= 0) or self.out_of_time():
                break
        # The end: whatever faults still hold back goes out now, then everything is acknowledged.
        self.send(self.injector.flush(), paced=False)
        self.sink.flush()
        self.truth.send_errors = self.sink.errors
        self.truth.held = 0
        self.truth.sim_end = iso_z(self.sim_now)
        self.truth.final = True
        self.progress.update(self.truth, self.sim_now, force=True)
        self.progress.close()
        if config.ground_truth_path is not None:
            self.truth.write(config.ground_truth_path)
        return self.truth


def run_simulation(
    settings: Settings,
    config: SimulationConfig,
    *,
    sink: Sink | None = None,
    stop: threading.Event | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> GroundTruth:
    """Generate, fault and send events as ``config`` says; returns the final ground truth.

    ``sink`` defaults to Kafka (settings.kafka_bootstrap); ``stop`` ends the run cleanly when set
    (the CLI sets it on SIGINT/SIGTERM).
    """
    catalog = generate_catalog(config.catalog_config())
    if config.load_catalog:
        from retail_platform.simulation.catalog_load import load_catalog

        loaded = load_catalog(catalog, settings)
        log(f"catalogue {catalog.fingerprint} loaded: {loaded}")
    own_sink = sink is None
    active = sink if sink is not None else KafkaSink(settings, catalog.store_ids, config)
    try:
        return _Run(catalog, config, active, stop or threading.Event(), log).run()
    finally:
        if own_sink:
            active.close()
