"""The promotion calendar: chain-wide price promotions per product and week, drawn from the seed.

A promotion is decided per (product, ISO-style week) from a random stream keyed by the catalogue seed
and the week number alone, so any window of any run (live, history, expected demand) sees the same
promotions. A promoted product is discounted on whole local days ``start <= weekday < end`` of that
week in every store (each store switches at its own local midnight). The discount lowers the price
and raises demand through the product's price elasticity (see demand.py).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

WEEKLY_PROBABILITY = 0.06  # share of products on promotion in a given week
DISCOUNTS = np.array([0.10, 0.15, 0.20, 0.25, 0.30])
_STREAM = 0x50524F4D  # "PROM": separates this random stream from the catalogue's and the generator's

# Price-change reasons carried by price_change events.
REASON_START = "promotion_start"
REASON_END = "promotion_end"
REASON_CHANGE = "promotion_change"


class PromotionCalendar:
    """Which products are promoted on a local day, at what price, with what demand uplift."""

    def __init__(self, seed: int, regular_cents: np.ndarray, elasticity: np.ndarray) -> None:
        self.seed = int(seed)
        self.regular_cents = np.asarray(regular_cents, dtype=np.int64)
        self.elasticity = np.asarray(elasticity, dtype=np.float64)
        self._week = lru_cache(maxsize=64)(self._draw_week)
        self._day = lru_cache(maxsize=1024)(self._compute_day)

    def _draw_week(self, week: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = self.regular_cents.size
        rng = np.random.default_rng([self.seed, _STREAM, week])
        active = rng.random(n) < WEEKLY_PROBABILITY
        start = rng.integers(0, 5, n)  # promotions start Monday..Friday
        length = rng.integers(2, 8, n)  # and last 2..7 days, cut at the end of the week
        end = np.where(active, np.minimum(start + length, 7), 0)
        discount = DISCOUNTS[rng.integers(0, DISCOUNTS.size, n)]
        return np.where(active, start, 0), end, discount

    def _compute_day(self, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        week, weekday = divmod(day - 1, 7)  # date(1, 1, 1), ordinal 1, is a Monday
        start, end, discount = self._week(week)
        on = (start <= weekday) & (weekday < end)
        promo_cents = np.maximum(np.rint(self.regular_cents * (1.0 - discount)).astype(np.int64), 1)
        cents = np.where(on, np.minimum(promo_cents, self.regular_cents), self.regular_cents)
        # Uplift from the prices actually charged (cents), so expected demand matches the generator.
        uplift = np.power(cents / self.regular_cents, self.elasticity)
        for array in (on, cents, uplift):
            array.setflags(write=False)
        return on, cents, uplift

    def on_promotion(self, day: int) -> np.ndarray:
        """bool[product]: promoted on local day ``day`` (a date ordinal)."""
        return self._day(int(day))[0]

    def prices(self, day: int) -> np.ndarray:
        """int64[product]: shelf price in cents on local day ``day``."""
        return self._day(int(day))[1]

    def uplift(self, day: int) -> np.ndarray:
        """float[product]: demand multiplier on local day ``day`` (1 without promotion)."""
        return self._day(int(day))[2]
