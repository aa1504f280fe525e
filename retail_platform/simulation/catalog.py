"""The simulated chain's catalogue: stores, suppliers, products and per store/product demand and
stock policy, generated once and deterministically from a seed.

Same ``CatalogConfig`` (seed, sizes, demand level) => identical catalogue, byte for byte in its
records (``Catalog.fingerprint``). Stores, suppliers, products and the store x product matrix each
draw from their own random stream (keyed by the seed and the part), so e.g. adding products does not
change the stores.

Reorder policy per store/product, a continuous-review (s, Q) policy (seed 000, "Reorder Point Theory"):

    d      = base_daily_units                      mean daily demand (units) at base factors
    sd_d   = sqrt(base_lines * MEAN_SQUARED_QUANTITY)   daily std of compound-Poisson demand
    L, sd_L = supplier lead time mean and std (days)
    safety_stock  = ceil(Z * sqrt(L * sd_d**2 + d**2 * sd_L**2))     Z = 1.65: 95 % cycle service
    reorder_point = ceil(d * L) + safety_stock
    EOQ           = sqrt(2 * 365 d * ORDER_COST / (HOLDING_RATE * unit_cost))
    order_quantity = max(EOQ, d * (L + 1)), for perishables at most max(0.75 * shelf life, L + 1) days
                     of demand, rounded up to the supplier's case size (min order quantity),
                     capped at MAX_ORDER_QUANTITY (the contract's largest quantity_change)
    initial_stock = reorder_point + U(0.25, 1) * order_quantity   (so orders do not all fire together)

``order_quantity >= d * (L + 1)`` lets a single outstanding order cover the lead time, which is what
the generator simulates (one open order per store/product). Demand above the base level (weekends,
summer, promotions) still causes stock-outs, which censor sales and are recorded as lost sales.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import cached_property
from typing import Any

import numpy as np

from retail_platform.simulation import demand
from retail_platform.simulation.promotions import PromotionCalendar

SERVICE_LEVEL_Z = 1.65
ORDER_COST = 20.0  # currency units per purchase order
HOLDING_RATE = 0.25  # holding cost per year, as a share of unit cost
MAX_ORDER_QUANTITY = 100_000  # inventory_update.quantity_change maximum
MAX_STOCK = 1_000_000  # inventory_update.new_quantity maximum
DEFAULT_EFFECTIVE_FROM = datetime(2020, 1, 1, tzinfo=timezone.utc)

_STREAM = 0x43415441  # "CATA"
_STORES, _SUPPLIERS, _PRODUCTS, _MATRIX = 1, 2, 3, 4


@dataclass(frozen=True)
class _StoreFormat:
    name: str
    open_hour: int
    close_hour: int  # exclusive; 24 = midnight
    share: float
    size: float  # relative demand of the format


STORE_FORMATS = (
    _StoreFormat("supermarket", 7, 22, 0.45, 1.0),
    _StoreFormat("hypermarket", 8, 22, 0.15, 1.6),
    _StoreFormat("express", 6, 23, 0.20, 0.6),
    _StoreFormat("convenience", 0, 24, 0.20, 0.45),
)
_24H = "convenience"

# (city, region, ISO country, IANA time zone). Only whole-hour UTC offsets (see calendar.py), spread
# over the Americas, Europe and Asia-Pacific so that some stores are open at any hour of a live run.
CITIES = (
    ("New York", "US-Northeast", "US", "America/New_York"),
    ("London", "UK-South", "GB", "Europe/London"),
    ("Tokyo", "JP-Kanto", "JP", "Asia/Tokyo"),
    ("Chicago", "US-Midwest", "US", "America/Chicago"),
    ("Berlin", "DE-East", "DE", "Europe/Berlin"),
    ("Sydney", "AU-NSW", "AU", "Australia/Sydney"),
    ("Los Angeles", "US-West", "US", "America/Los_Angeles"),
    ("Paris", "FR-IDF", "FR", "Europe/Paris"),
    ("Toronto", "CA-Ontario", "CA", "America/Toronto"),
    ("Osaka", "JP-Kansai", "JP", "Asia/Tokyo"),
    ("Madrid", "ES-Centre", "ES", "Europe/Madrid"),
    ("Denver", "US-Mountain", "US", "America/Denver"),
    ("Munich", "DE-South", "DE", "Europe/Berlin"),
    ("Atlanta", "US-Southeast", "US", "America/New_York"),
    ("Manchester", "UK-North", "GB", "Europe/London"),
    ("Melbourne", "AU-VIC", "AU", "Australia/Melbourne"),
    ("Seattle", "US-West", "US", "America/Los_Angeles"),
    ("Dallas", "US-South", "US", "America/Chicago"),
    ("Milan", "IT-North", "IT", "Europe/Rome"),
    ("Amsterdam", "NL-West", "NL", "Europe/Amsterdam"),
)
SOUTHERN_HEMISPHERE = {"AU"}
SUNDAY_CLOSING = {"DE"}  # Ladenschluss: German stores other than convenience close on Sundays


@dataclass(frozen=True)
class _Category:
    name: str
    sub_categories: tuple[str, ...]
    brands: tuple[str, ...]
    price_range: tuple[float, float]
    shelf_life: tuple[int, int]  # days; (0, 0) = not perishable
    season_amplitude: float
    season_peak: int  # day of year of the peak
    elasticity: tuple[float, float]
    weight: float


CATEGORIES = (
    _Category("Dairy", ("Milk", "Cheese", "Yogurt", "Butter"), ("Meadow Gold", "Alpine Dairy", "Green Pasture"),
              (0.99, 7.99), (7, 60), 0.04, 20, (-1.8, -1.0), 0.14),
    _Category("Bakery", ("Bread", "Pastries", "Cakes"), ("Golden Crust", "Baker's Choice", "Rustica"),
              (1.29, 6.99), (2, 6), 0.06, 355, (-2.0, -1.2), 0.08),
    _Category("Produce", ("Fruit", "Vegetables", "Salads", "Herbs"), ("FreshFarm", "Orchard Lane", "Green Valley"),
              (0.49, 5.99), (4, 21), 0.12, 190, (-2.2, -1.2), 0.14),
    _Category("Meat & Seafood", ("Poultry", "Beef", "Pork", "Fish"), ("Prime Cuts", "Ocean Catch", "Farmhouse"),
              (3.49, 24.99), (3, 10), 0.10, 200, (-2.5, -1.4), 0.08),
    _Category("Beverages", ("Soft Drinks", "Water", "Juice", "Coffee", "Tea"),
              ("Fizzco", "Clear Spring", "Sunvalley", "Roastery"), (0.79, 12.99), (120, 540), 0.22, 200,
              (-2.8, -1.5), 0.16),
    _Category("Snacks", ("Chips", "Cookies", "Candy", "Nuts"), ("Crunchies", "Sweet Tooth", "NutHouse"),
              (0.99, 5.99), (60, 365), 0.12, 355, (-3.0, -1.6), 0.14),
    _Category("Frozen", ("Ice Cream", "Frozen Meals", "Frozen Vegetables", "Pizza"), ("Polar", "IceDream", "Quickmeal"),
              (1.99, 9.99), (90, 365), 0.18, 205, (-2.6, -1.4), 0.10),
    _Category("Household", ("Cleaning", "Paper Goods", "Laundry", "Dishwashing"), ("Sparkle", "HomePro", "Softy"),
              (1.49, 19.99), (0, 0), 0.03, 90, (-1.6, -0.8), 0.08),
    _Category("Personal Care", ("Shampoo", "Toothpaste", "Soap", "Deodorant"), ("Purelle", "Smile+", "Aqua"),
              (0.99, 14.99), (0, 0), 0.03, 180, (-1.8, -0.9), 0.08),
)  # fmt: skip
VARIANTS = ("Classic", "Organic", "Light", "Family Pack", "Original", "Premium", "Value", "Extra", "Mini", "Large")
SUPPLIER_NAMES = (
    "Fresh Valley Farms", "Northwind Foods", "Greenfield Produce", "Blue Harbor Trading", "Summit Distribution",
    "Atlas Wholesale", "Riverbend Supply", "Crescent Imports", "Pioneer Goods", "Evergreen Provisions",
)  # fmt: skip
FRESH_SHELF_LIFE_DAYS = 30  # products that keep at most this long come from fresh (short lead time) suppliers


@dataclass(frozen=True)
class CatalogConfig:
    """What determines a catalogue. ``lines_per_store_hour`` is the chain's demand level: expected
    sale lines per store per open hour, averaged over the fleet and the week at base factors."""

    seed: int = 4
    stores: int = 5
    products: int = 50
    suppliers: int | None = None  # default: one per 25 products, at least 2
    lines_per_store_hour: float = 60.0
    effective_from: datetime = DEFAULT_EFFECTIVE_FROM

    def __post_init__(self) -> None:
        if not 1 <= self.stores <= 99_999:
            raise ValueError(f"stores={self.stores}: store ids allow 1..99999 stores")
        if not 1 <= self.products <= 9_999_999:
            raise ValueError(f"products={self.products}: product ids allow 1..9999999 products")
        if self.suppliers is not None and self.suppliers < 2:
            raise ValueError("suppliers must be at least 2 (one fresh, one ambient)")
        if self.lines_per_store_hour <= 0:
            raise ValueError("lines_per_store_hour must be positive")
        if self.effective_from.tzinfo is None:
            raise ValueError("effective_from must be an aware datetime")

    @property
    def supplier_count(self) -> int:
        return self.suppliers if self.suppliers is not None else max(2, math.ceil(self.products / 25))


@dataclass(frozen=True)
class Store:
    store_id: str
    store_name: str
    store_type: str
    city: str
    region: str
    country: str
    timezone: str
    storage_capacity_units: int
    opened_on: date
    open_hour: int  # local clock hour the store opens
    close_hour: int  # local clock hour it closes (exclusive; 24 = midnight)
    closed_weekdays: tuple[int, ...]  # 0 = Monday ... 6 = Sunday
    size_factor: float  # relative demand of the store (fleet mean 1)
    dow_factors: tuple[float, ...]  # Monday..Sunday demand factors, sum 7

    @property
    def opening_hours(self) -> str:
        return f"{self.open_hour:02d}:00-{self.close_hour:02d}:00"

    @property
    def weekly_open_hours(self) -> int:
        return (self.close_hour - self.open_hour) * (7 - len(self.closed_weekdays))


@dataclass(frozen=True)
class Supplier:
    supplier_id: str
    supplier_name: str
    country: str
    lead_time_days: int  # mean
    lead_time_stddev_days: float
    min_order_quantity: int  # case size: orders are multiples of it
    on_time_rate: float
    fresh: bool


@dataclass(frozen=True)
class Product:
    product_id: str
    product_name: str
    category: str
    sub_category: str
    brand: str
    supplier_id: str
    unit_cost: Decimal
    unit_price: Decimal
    shelf_life_days: int  # 0 = not perishable
    price_elasticity: float
    season_amplitude: float
    season_peak_day: int


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(eq=False)
class Catalog:
    """Stores, suppliers, products and the ``[store, product]`` matrices of demand and stock policy."""

    config: CatalogConfig
    stores: tuple[Store, ...]
    suppliers: tuple[Supplier, ...]
    products: tuple[Product, ...]
    base_daily_units: np.ndarray  # float [store, product]
    safety_stock: np.ndarray  # int64 [store, product]
    reorder_point: np.ndarray
    order_quantity: np.ndarray
    initial_stock: np.ndarray

    # --- identities --------------------------------------------------------------------------
    @property
    def store_ids(self) -> list[str]:
        return [s.store_id for s in self.stores]

    @property
    def product_ids(self) -> list[str]:
        return [p.product_id for p in self.products]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.stores), len(self.products)

    # --- arrays the demand process and the generator use (derived, read-only) ----------------
    @cached_property
    def base_lines(self) -> np.ndarray:
        return _readonly(self.base_daily_units / demand.MEAN_QUANTITY)

    @cached_property
    def dow(self) -> np.ndarray:
        return _readonly(np.array([s.dow_factors for s in self.stores]))

    @cached_property
    def intraday(self) -> np.ndarray:
        return _readonly(np.array([demand.intraday_weights(s.open_hour, s.close_hour) for s in self.stores]))

    @cached_property
    def season_shift(self) -> np.ndarray:
        return _readonly(np.array([182.0 if s.country in SOUTHERN_HEMISPHERE else 0.0 for s in self.stores]))

    @cached_property
    def season_amplitude(self) -> np.ndarray:
        return _readonly(np.array([p.season_amplitude for p in self.products]))

    @cached_property
    def season_peak(self) -> np.ndarray:
        return _readonly(np.array([float(p.season_peak_day) for p in self.products]))

    @cached_property
    def price_cents(self) -> np.ndarray:
        return _readonly(np.array([int(p.unit_price * 100) for p in self.products], dtype=np.int64))

    @cached_property
    def elasticity(self) -> np.ndarray:
        return _readonly(np.array([p.price_elasticity for p in self.products]))

    @cached_property
    def product_supplier(self) -> np.ndarray:
        index = {s.supplier_id: i for i, s in enumerate(self.suppliers)}
        return _readonly(np.array([index[p.supplier_id] for p in self.products], dtype=np.int64))

    @cached_property
    def lead_time_mean(self) -> np.ndarray:
        """float[product]: mean lead time (days) of the product's supplier."""
        means = np.array([s.lead_time_days for s in self.suppliers], dtype=np.float64)
        return _readonly(means[self.product_supplier])

    @cached_property
    def lead_time_stddev(self) -> np.ndarray:
        stds = np.array([s.lead_time_stddev_days for s in self.suppliers], dtype=np.float64)
        return _readonly(stds[self.product_supplier])

    @cached_property
    def promotions(self) -> PromotionCalendar:
        return PromotionCalendar(self.config.seed, self.price_cents, self.elasticity)

    # --- records (landing files, warehouse rows) ---------------------------------------------
    def store_product_records(self) -> list[dict[str, Any]]:
        """One record per store/product: demand parameters and stock policy."""
        s_ids, p_ids = self.store_ids, self.product_ids
        n_stores, n_products = self.shape
        units = np.round(self.base_daily_units, 4).tolist()
        arrays = [a.tolist() for a in (self.safety_stock, self.reorder_point, self.order_quantity, self.initial_stock)]
        return [
            {
                "store_id": s_ids[s],
                "product_id": p_ids[p],
                "base_daily_units": units[s][p],
                "safety_stock": arrays[0][s][p],
                "reorder_point": arrays[1][s][p],
                "order_quantity": arrays[2][s][p],
                "initial_stock": arrays[3][s][p],
            }
            for s in range(n_stores)
            for p in range(n_products)
        ]

    def records(self) -> dict[str, list[dict[str, Any]]]:
        """The whole catalogue as JSON-ready records, by entity."""
        return {
            "stores": [_jsonable(asdict(s)) | {"opening_hours": s.opening_hours} for s in self.stores],
            "suppliers": [_jsonable(asdict(s)) for s in self.suppliers],
            "products": [_jsonable(asdict(p)) for p in self.products],
            "store_products": self.store_product_records(),
        }

    @cached_property
    def fingerprint(self) -> str:
        """sha256 (16 hex digits) of the catalogue's records: equal fingerprints, equal catalogues."""
        digest = hashlib.sha256()
        for name, rows in self.records().items():
            digest.update(name.encode())
            digest.update(json.dumps(rows, sort_keys=True, separators=(",", ":")).encode())
        return digest.hexdigest()[:16]


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, Decimal):
            out[key] = str(value)
        elif isinstance(value, (date, datetime)):
            out[key] = value.isoformat()
        elif isinstance(value, tuple):
            out[key] = list(value)
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# Generation


def _rng(seed: int, part: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAM, part])


def _stores(config: CatalogConfig) -> list[Store]:
    rng = _rng(config.seed, _STORES)
    n = config.stores
    shares = np.array([f.share for f in STORE_FORMATS])
    formats = [STORE_FORMATS[i] for i in rng.choice(len(STORE_FORMATS), size=n, p=shares / shares.sum())]
    if n >= 2 and not any(f.name == _24H for f in formats):
        # A fleet always has a 24-hour store, so a live run at any hour produces some traffic.
        formats[-1] = next(f for f in STORE_FORMATS if f.name == _24H)
    sizes = np.array([f.size for f in formats]) * rng.lognormal(0.0, 0.2, n)
    sizes = sizes / sizes.mean()  # fleet mean 1: the demand level holds for the fleet exactly
    jitters = rng.lognormal(0.0, 0.04, (n, 7))
    opened = rng.integers(0, 15 * 365, n)
    per_city: dict[str, int] = {}
    stores = []
    for i in range(n):
        city, region, country, tz = CITIES[i % len(CITIES)]
        fmt = formats[i]
        per_city[city] = per_city.get(city, 0) + 1
        closed = (6,) if country in SUNDAY_CLOSING and fmt.name != _24H else ()
        stores.append(
            Store(
                store_id=f"store_{i + 1:03d}",
                store_name=f"{city} {fmt.name.title()} {per_city[city]}",
                store_type=fmt.name,
                city=city,
                region=region,
                country=country,
                timezone=tz,
                storage_capacity_units=0,  # set once the stock policy is known
                opened_on=date(2005, 1, 1) + timedelta(days=int(opened[i])),
                open_hour=fmt.open_hour,
                close_hour=fmt.close_hour,
                closed_weekdays=closed,
                size_factor=round(float(sizes[i]), 6),
                dow_factors=tuple(round(float(x), 6) for x in demand.dow_factors(closed, jitters[i])),
            )
        )
    return stores


def _suppliers(config: CatalogConfig) -> list[Supplier]:
    rng = _rng(config.seed, _SUPPLIERS)
    n = config.supplier_count
    n_fresh = max(1, min(n - 1, math.ceil(n / 3)))
    countries = sorted({c[2] for c in CITIES})
    suppliers = []
    for i in range(n):
        fresh = i < n_fresh
        lead = int(rng.integers(1, 4) if fresh else rng.integers(3, 11))
        suppliers.append(
            Supplier(
                supplier_id=f"SUP{i + 1:03d}",
                supplier_name=SUPPLIER_NAMES[i] if i < len(SUPPLIER_NAMES) else f"Supplier {i + 1}",
                country=countries[int(rng.integers(0, len(countries)))],
                lead_time_days=lead,
                lead_time_stddev_days=round(lead * float(rng.uniform(0.1, 0.3)), 2),
                min_order_quantity=int(rng.choice([6, 12]) if fresh else rng.choice([12, 24, 48])),
                on_time_rate=round(float(rng.uniform(0.85, 0.99)), 3),
                fresh=fresh,
            )
        )
    return suppliers


def _price(rng: np.random.Generator, low: float, high: float) -> Decimal:
    """A shelf price ending in 9 cents, log-uniform in [low, high]."""
    raw = math.exp(rng.uniform(math.log(low), math.log(high)))
    return (Decimal(max(int(raw * 10), 1)) / 10 + Decimal("0.09")).quantize(Decimal("0.01"))


def _products(config: CatalogConfig, suppliers: list[Supplier]) -> list[Product]:
    rng = _rng(config.seed, _PRODUCTS)
    weights = np.array([c.weight for c in CATEGORIES])
    fresh = [s for s in suppliers if s.fresh]
    ambient = [s for s in suppliers if not s.fresh]
    products = []
    for i in range(config.products):
        cat = CATEGORIES[int(rng.choice(len(CATEGORIES), p=weights / weights.sum()))]
        sub = cat.sub_categories[int(rng.integers(0, len(cat.sub_categories)))]
        brand = cat.brands[int(rng.integers(0, len(cat.brands)))]
        variant = VARIANTS[int(rng.integers(0, len(VARIANTS)))]
        price = _price(rng, *cat.price_range)
        cost = (price * Decimal(str(round(float(rng.uniform(0.45, 0.75)), 2)))).quantize(Decimal("0.01"))
        shelf = int(rng.integers(cat.shelf_life[0], cat.shelf_life[1] + 1)) if cat.shelf_life[1] else 0
        pool = fresh if 0 < shelf <= FRESH_SHELF_LIFE_DAYS else ambient
        supplier = pool[int(rng.integers(0, len(pool)))]
        products.append(
            Product(
                product_id=f"SKU{i + 1:04d}",
                product_name=f"{brand} {sub} {variant}",
                category=cat.name,
                sub_category=sub,
                brand=brand,
                supplier_id=supplier.supplier_id,
                unit_cost=max(cost, Decimal("0.01")),
                unit_price=price,
                shelf_life_days=shelf,
                price_elasticity=round(float(rng.uniform(*cat.elasticity)), 3),
                season_amplitude=round(cat.season_amplitude * float(rng.uniform(0.7, 1.3)), 4),
                season_peak_day=int((cat.season_peak + rng.integers(-15, 16)) % 365),
            )
        )
    return products


def reorder_policy(
    base_daily_units: np.ndarray,
    lead_time_mean: np.ndarray,
    lead_time_stddev: np.ndarray,
    unit_cost: np.ndarray,
    shelf_life_days: np.ndarray,
    min_order_quantity: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(safety_stock, reorder_point, order_quantity) by the formula in the module docstring.

    Demand arrays are ``[store, product]``; the others ``[product]`` and broadcast.
    """
    d = base_daily_units
    sd_d = np.sqrt(d / demand.MEAN_QUANTITY * demand.MEAN_SQUARED_QUANTITY)
    lead, sd_lead = lead_time_mean, lead_time_stddev
    safety = np.ceil(SERVICE_LEVEL_Z * np.sqrt(lead * sd_d**2 + d**2 * sd_lead**2))
    rop = np.minimum(np.ceil(d * lead) + safety, MAX_STOCK // 2)
    eoq = np.sqrt(2.0 * 365.0 * d * ORDER_COST / (HOLDING_RATE * unit_cost))
    cover = d * (lead + 1.0)
    q = np.maximum(eoq, cover)
    perishable = shelf_life_days > 0
    q = np.where(perishable, np.minimum(q, np.maximum(0.75 * shelf_life_days * d, cover)), q)
    q = np.ceil(np.maximum(q, 1.0) / min_order_quantity) * min_order_quantity
    max_q = (MAX_ORDER_QUANTITY // min_order_quantity) * min_order_quantity
    q = np.clip(q, min_order_quantity, max_q)
    return safety.astype(np.int64), rop.astype(np.int64), q.astype(np.int64)


def generate_catalog(config: CatalogConfig | None = None) -> Catalog:
    """The catalogue ``config`` describes (deterministic)."""
    config = config or CatalogConfig()
    stores = _stores(config)
    suppliers = _suppliers(config)
    products = _products(config, suppliers)
    rng = _rng(config.seed, _MATRIX)
    n_stores, n_products = len(stores), len(products)

    # Popularity: Zipf over a random ranking of the products, with store-specific noise.
    rank = rng.permutation(n_products) + 1
    popularity = rank**-0.8 * rng.lognormal(0.0, 0.3, n_products)
    matrix = popularity[None, :] * rng.lognormal(0.0, 0.25, (n_stores, n_products))
    matrix /= matrix.sum(axis=1, keepdims=True)
    daily_lines_per_store = np.array(
        [config.lines_per_store_hour * s.size_factor * s.weekly_open_hours / 7.0 for s in stores]
    )
    base_daily_units = daily_lines_per_store[:, None] * matrix * demand.MEAN_QUANTITY

    supplier_of = {s.supplier_id: s for s in suppliers}
    prod_suppliers = [supplier_of[p.supplier_id] for p in products]
    safety, rop, q = reorder_policy(
        base_daily_units,
        np.array([s.lead_time_days for s in prod_suppliers], dtype=np.float64),
        np.array([s.lead_time_stddev_days for s in prod_suppliers]),
        np.array([float(p.unit_cost) for p in products]),
        np.array([p.shelf_life_days for p in products], dtype=np.float64),
        np.array([s.min_order_quantity for s in prod_suppliers], dtype=np.float64),
    )
    initial = rop + np.rint(rng.uniform(0.25, 1.0, (n_stores, n_products)) * q).astype(np.int64)
    capacity = np.ceil((rop + q).sum(axis=1) * 1.2 / 100.0).astype(np.int64) * 100
    stores = [replace(s, storage_capacity_units=int(c)) for s, c in zip(stores, capacity, strict=True)]
    return Catalog(
        config=config,
        stores=tuple(stores),
        suppliers=tuple(suppliers),
        products=tuple(products),
        base_daily_units=_readonly(base_daily_units),
        safety_stock=_readonly(safety),
        reorder_point=_readonly(rop),
        order_quantity=_readonly(q),
        initial_stock=_readonly(np.minimum(initial, MAX_STOCK)),
    )
