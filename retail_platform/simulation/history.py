"""What both simulated-history writers share: a range of days over a generated catalogue.

``bronze_history`` (event grain, into the lake's bronze) and ``fact_history`` (daily grain, into the
facts) draw the same fleet for the same seed, scale and demand level."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from retail_platform.simulation.catalog import Catalog, CatalogConfig, generate_catalog


@dataclass(frozen=True)
class HistoryRange:
    end_date: date  # last day generated (inclusive)
    days: int = 7
    stores: int = 5
    products: int = 50
    seed: int = 4  # catalogue and run seed (as the live simulator)
    lines_per_store_hour: float = 60.0  # demand level (sale lines)

    @property
    def first_day(self) -> date:
        return self.end_date - timedelta(days=self.days - 1)

    def catalog(self) -> Catalog:
        return generate_catalog(
            CatalogConfig(
                seed=self.seed,
                stores=self.stores,
                products=self.products,
                lines_per_store_hour=self.lines_per_store_hour,
            )
        )
