"""POS/WMS simulators: a deterministic catalogue, a demand process, an event generator with stock and
reordering, fault injection, a Kafka producer and the ground truth of what was sent.

Modules: catalog (stores, suppliers, products, stock policy), catalog_load (landing files, warehouse
dimensions, rt_reorder_policy), demand (the demand process and its expected value), promotions,
calendar (store-local time), generator (events over simulated time), batch/encoding (columnar rows,
JSON bytes), faults, ground_truth, producer (run_simulation, Kafka) and __main__ (the CLI).
Simulated history and what-ifs, not run in production: bronze_history (event-grain history written
straight into the lake's bronze), fact_history (daily-grain history inserted into the facts, with the
true expected demand), history (the range and fleet both share), closed_loop (the chain following the
reorder recommendations for N days).
"""

from retail_platform.simulation.catalog import Catalog, CatalogConfig, generate_catalog
from retail_platform.simulation.catalog_load import load_catalog, load_warehouse, write_landing
from retail_platform.simulation.demand import ExpectedDemand, expected_daily_demand
from retail_platform.simulation.faults import FaultInjector, FaultRates
from retail_platform.simulation.generator import EventGenerator, GeneratorConfig
from retail_platform.simulation.ground_truth import GroundTruth
from retail_platform.simulation.producer import SimulationConfig, run_simulation

__all__ = [
    "Catalog",
    "CatalogConfig",
    "EventGenerator",
    "ExpectedDemand",
    "FaultInjector",
    "FaultRates",
    "GeneratorConfig",
    "GroundTruth",
    "SimulationConfig",
    "expected_daily_demand",
    "generate_catalog",
    "load_catalog",
    "load_warehouse",
    "run_simulation",
    "write_landing",
]
