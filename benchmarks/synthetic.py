"""A synthetic lake, generated straight into the lake (not through Odoo), fast.

``build(spec)`` writes, for every date of ``spec``, every dated table the ETL writes
(``fact_pos_sales``, ``fact_invoice_sales``, ``fact_sales``, ``agg_profit_daily``,
``agg_sales_daily``, ``agg_orders_daily``, ``fact_purchases``, ``fact_inventory_moves``,
``fact_stock_quants``) through ``Lake.write_partition`` — so the layout, file names, row groups and compression are the
real ones — plus the five dimensions (``Lake.write_whole``) and the metadata store's
partition states (as the ETL would leave them). Columns come from the dataset specs'
schemas: a column this generator does not know is written as nulls and reported.

The company (defaults = the "full" demo scale): 20 stores of different sizes (two open
on Sundays), 5,000 products in a department / category tree, each store carrying most
of them; about 20,000 POS lines a day and 2,000 invoice lines a weekday.

- volume: weekday pattern (Saturday peak, Sunday only two stores), yearly seasonality,
  a December ramp, Christmas and New Year closures, 5 % yearly growth, daily noise;
- products: Zipf-Mandelbrot popularity, per-category seasons (drinks in summer, toys,
  wine and spirits in December, garden in spring), POS baskets of 3.5 lines on average,
  quantities mostly 1, line discounts, refunds (negative quantities), credit notes;
- money: list prices per department, margins 15-45 %, costs that drift up and change a
  few times a year; ``margin = revenue - cost`` exactly, the aggregates computed by
  ``nkdash.etl.datasets.profit.aggregates`` (the ETL's own function);
- stock: a daily quant snapshot per (store, storable product) following a sell-down /
  restock saw-tooth (some at zero, a few negative); delivery moves per (store, product)
  sold, receipts, transfers between stores, adjustments, scraps; purchase orders on
  weekdays with receipts and invoicing lagging behind.

Every date is generated from ``numpy.random.default_rng((seed, ordinal))``, so dates are
independent (two worker processes share the work) and the same spec gives the same lake.
Lakes are cached under ``benchmarks/out/lakes/<key>/`` where ``key`` hashes the spec,
this generator's version and the table schemas: a rerun reuses them; an interrupted
build resumes at the first incomplete date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nkdash.etl.datasets.profit import aggregates
from nkdash.etl.datasets.registry import REGISTRY
from nkdash.etl.runner import combined_checksum
from nkdash.lake import Lake, PartitionInfo
from nkdash.meta import MetaStore

GENERATOR_VERSION = 2
OUT = Path(__file__).resolve().parent / "out"
SCHEMAS: dict[str, pa.Schema] = {t.name: t.schema for spec in REGISTRY.values() for t in spec.tables}
DATASET_TABLES: dict[str, tuple[str, ...]] = {
    name: spec.table_names for name, spec in REGISTRY.items() if spec.partitioned
}
DATED_TABLES: tuple[str, ...] = tuple(t for tables in DATASET_TABLES.values() for t in tables)
UTC_US = pa.timestamp("us", tz="UTC")
EPOCH = dt.date(2000, 1, 1)  # ids are offset by days since then: unique across dates


@dataclass(frozen=True)
class LakeSpec:
    """What to generate. Volumes are daily averages over the whole range."""

    days: int = 1096  # 3 years
    end: dt.date = dt.date(2026, 10, 31)
    stores: int = 20
    products: int = 5000
    customers: int = 20000
    vendors: int = 40
    pos_lines: int = 20000  # a day
    invoice_lines: int = 2000  # a weekday
    purchase_lines: int = 2000  # a weekday
    seed: int = 7

    @classmethod
    def years(cls, years: float, **changes: Any) -> LakeSpec:
        return cls(days=max(1, round(365.25 * years)), **changes)

    @property
    def start(self) -> dt.date:
        return self.end - dt.timedelta(days=self.days - 1)

    @property
    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    @property
    def key(self) -> str:
        text = json.dumps(
            {
                "spec": dataclasses.asdict(self),
                "version": GENERATOR_VERSION,
                "schemas": {name: str(schema) for name, schema in sorted(SCHEMAS.items())},
            },
            default=str,
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def describe(self) -> str:
        return (
            f"{self.days} days to {self.end}, {self.stores} stores, {self.products} products, "
            f"~{self.pos_lines} POS + {self.invoice_lines} invoice lines a day"
        )


QUICK = LakeSpec(
    days=45, stores=3, products=240, customers=300, vendors=4, pos_lines=600, invoice_lines=60, purchase_lines=60
)


# ----------------------------------------------------------------------------- the catalogue
# department, categories (name, season), share of products, median list price, margin, VAT rate
DEPARTMENTS: tuple[tuple[str, tuple[tuple[str, str | None], ...], float, float, float, float], ...] = (
    (
        "Groceries",
        (
            ("Dairy", None),
            ("Bakery", None),
            ("Fruit & Vegetables", "summer"),
            ("Meat & Fish", None),
            ("Frozen", "summer"),
            ("Pantry", None),
            ("Snacks", None),
            ("Breakfast", None),
        ),
        0.34,
        2.9,
        0.27,
        0.06,
    ),
    (
        "Drinks",
        (
            ("Water", "summer"),
            ("Soft Drinks", "summer"),
            ("Beer", "summer"),
            ("Wine", "xmas"),
            ("Spirits", "xmas"),
            ("Coffee & Tea", None),
        ),
        0.18,
        4.6,
        0.30,
        0.21,
    ),
    ("Household", (("Cleaning", None), ("Paper", None), ("Kitchen", None), ("Laundry", None)), 0.16, 5.5, 0.35, 0.21),
    (
        "Personal Care",
        (("Hygiene", None), ("Beauty", None), ("Baby", None), ("Pharmacy", "winter")),
        0.17,
        6.5,
        0.38,
        0.21,
    ),
    (
        "Leisure",
        (
            ("Toys", "xmas"),
            ("Books & Press", "school"),
            ("Garden", "spring"),
            ("Seasonal", "xmas"),
            ("Electronics", "xmas"),
        ),
        0.15,
        14.0,
        0.42,
        0.21,
    ),
)
CITIES = (
    "Brussels Centre",
    "Antwerp Station",
    "Ghent",
    "Charleroi",
    "Liège",
    "Bruges",
    "Namur",
    "Leuven",
    "Mons",
    "Mechelen",
    "Hasselt",
    "Kortrijk",
    "Ostend",
    "Aalst",
    "Genk",
    "Sint-Niklaas",
    "Tournai",
    "Wavre",
    "Arlon",
    "Turnhout",
    "Ypres",
    "Dinant",
    "Spa",
    "Eupen",
)
FIRST = (
    "Emma",
    "Louis",
    "Olivia",
    "Arthur",
    "Louise",
    "Jules",
    "Mila",
    "Noah",
    "Elena",
    "Lucas",
    "Alice",
    "Victor",
    "Lina",
    "Adam",
    "Nora",
    "Liam",
    "Sofia",
    "Finn",
    "Julie",
    "Hugo",
)
LAST = (
    "Peeters",
    "Janssens",
    "Maes",
    "Jacobs",
    "Mertens",
    "Willems",
    "Claes",
    "Goossens",
    "Wouters",
    "De Smet",
    "Dubois",
    "Lambert",
    "Dupont",
    "Martin",
    "Simon",
    "Leroy",
    "Hermans",
    "Michiels",
)
TRADES = ("Restaurant", "Café", "Hotel", "Brasserie", "Bakery", "School", "Daycare", "Catering", "Sports Club")
WEEKDAY = (0.90, 0.90, 0.95, 1.00, 1.15, 1.30, 0.75)  # orders per open store, Monday first
POS_QTY = ((1, 2, 3, 4, 6), (0.70, 0.20, 0.06, 0.02, 0.02))
B2B_QTY = ((1, 2, 3, 4, 6, 12, 24), (0.25, 0.20, 0.12, 0.12, 0.15, 0.10, 0.06))
DISCOUNTS = np.array([5.0, 10.0, 10.0, 15.0, 20.0, 20.0, 25.0, 30.0, 50.0])
LINES_PER_ORDER, LINES_PER_INVOICE, LINES_PER_PURCHASE = 3.5, 5.0, 18.0
KINDS = ("delivery", "return", "receipt", "internal", "adjustment", "scrap")
POS_OPEN_S, POS_HOURS_S = 8 * 3600, 12 * 3600  # orders between 08:00 and 20:00 UTC-ish

# location ids (stores' view and stock locations follow at 10 + 2 * store)
CUSTOMERS_LOC, VENDORS_LOC, ADJUST_LOC, SCRAP_LOC = 2, 3, 5, 6


def season(kind: str | None, doy: np.ndarray | float) -> np.ndarray | float:
    """Demand multiplier of a category season on day-of-year ``doy``."""
    doy = np.asarray(doy, dtype=float)
    if kind == "summer":
        return 1 + 0.35 * np.cos(2 * np.pi * (doy - 196) / 365.25)
    if kind == "winter":
        return 1 + 0.30 * np.cos(2 * np.pi * (doy - 15) / 365.25)
    if kind == "xmas":
        return 1 + 1.2 * np.exp(-(((doy - 352) / 14) ** 2)) + 0.2 * np.exp(-(((doy - 45) / 5) ** 2))
    if kind == "spring":
        return 1 + 0.8 * np.exp(-(((doy - 125) / 35) ** 2))
    if kind == "school":
        return 1 + 0.6 * np.exp(-(((doy - 245) / 12) ** 2))
    return np.ones_like(doy)


def day_factor(day: dt.date, start: dt.date) -> float:
    """Overall volume of ``day`` relative to an average weekday: weekday, season, growth."""
    doy = day.timetuple().tm_yday
    years = (day - start).days / 365.25
    base = WEEKDAY[day.weekday()] * (1 + 0.06 * math.cos(2 * math.pi * (doy - 200) / 365.25))
    base *= 1 + 0.35 * math.exp(-(((doy - 354) / 9) ** 2)) if (day.month, day.day) <= (12, 24) else 1
    return base * (1.05**years)


def closed_day(day: dt.date) -> bool:
    """Christmas and New Year's day: only the two 7/7 stores open."""
    return (day.month, day.day) in ((12, 25), (1, 1))


class Company:
    """The dimensions and the fixed per-store structures every date is drawn from."""

    def __init__(self, spec: LakeSpec):
        self.spec = spec
        rng = np.random.default_rng((spec.seed, 0))
        self._categories(rng)
        self._products(rng)
        self._stores(rng)
        self._partners(rng)
        self._quants(rng)
        self._cum: dict[tuple[int, int], np.ndarray] = {}
        self.base_orders = self._calibrate()

    # ---- dimensions -----------------------------------------------------------------------
    def _categories(self, rng: np.random.Generator) -> None:
        ids, names, complete, parents = [1], ["All"], ["All"], [None]
        leaves: list[tuple[int, int, str | None]] = []  # (category id, department index, season)
        for d, (dept, subs, *_rest) in enumerate(DEPARTMENTS):
            dept_id = len(ids) + 1
            ids.append(dept_id), names.append(dept), complete.append(f"All / {dept}"), parents.append(1)
            for sub, kind in subs:
                cid = len(ids) + 1
                ids.append(cid), names.append(sub), complete.append(f"All / {dept} / {sub}"), parents.append(dept_id)
                leaves.append((cid, d, kind))
        self.category = {"id": ids, "name": names, "complete_name": complete, "parent_id": parents}
        self.departments = {
            DEPARTMENTS[d][0]: 2 + sum(1 + len(x[1]) for x in DEPARTMENTS[:d]) for d in range(len(DEPARTMENTS))
        }
        self.leaves = leaves

    def _products(self, rng: np.random.Generator) -> None:
        n = self.spec.products
        share = np.array([DEPARTMENTS[d][2] / len(DEPARTMENTS[d][1]) for _c, d, _k in self.leaves])
        leaf = rng.choice(len(self.leaves), size=n, p=share / share.sum())
        dept = np.array([self.leaves[i][1] for i in leaf])
        self.p_leaf, self.p_dept = leaf, dept
        self.p_category = np.array([self.leaves[i][0] for i in leaf], dtype=np.int64)
        median = np.array([DEPARTMENTS[d][3] for d in dept])
        price = np.maximum(0.49, median * rng.lognormal(0, 0.6, n))
        self.list_price = np.floor(price) + rng.choice([0.29, 0.49, 0.79, 0.99], n)
        margin = np.clip(np.array([DEPARTMENTS[d][4] for d in dept]) + rng.normal(0, 0.06, n), 0.12, 0.6)
        self.standard_price = np.round(self.list_price * (1 - margin), 2)
        self.vat = np.array([DEPARTMENTS[d][5] for d in dept])
        self.storable = rng.random(n) < 0.97
        self.active = rng.random(n) < 0.97
        self.pack = rng.choice([1, 6, 12, 24], n, p=[0.3, 0.35, 0.25, 0.1])
        self.cost_phase = rng.integers(0, 122, n)
        rank = rng.permutation(n)  # 0 = best seller
        self.popularity = 1.0 / (rank + 10.0)  # Zipf-Mandelbrot, s = 1, q = 10
        self.product_ids = np.arange(1, n + 1, dtype=np.int64)
        self.vendor_of = rng.integers(0, self.spec.vendors, n)

    def _stores(self, rng: np.random.Generator) -> None:
        s = self.spec.stores
        self.store_names = [CITIES[i] if i < len(CITIES) else f"Store {i + 1}" for i in range(s)]
        size = rng.lognormal(0, 0.35, s)
        size[0] *= 1.8
        self.store_size = size / size.mean()
        self.sunday = np.arange(s) < 2
        pct = np.argsort(np.argsort(-self.popularity)) / self.spec.products  # 0 = most popular
        self.carried = rng.random((s, self.spec.products)) < (0.95 - 0.45 * pct)[None, :]
        self.carried[0] = True
        self.store_ids = np.arange(1, s + 1, dtype=np.int64)
        self.stock_loc = 11 + 2 * np.arange(s, dtype=np.int64)
        self.type_in, self.type_pos, self.type_int = (100 + 3 * np.arange(s) + k for k in range(3))
        self.locations = [
            (1, "Partners", "Partners", "view", None, None, False),
            (CUSTOMERS_LOC, "Customers", "Partners/Customers", "customer", 1, None, False),
            (VENDORS_LOC, "Vendors", "Partners/Vendors", "supplier", 1, None, False),
            (4, "Virtual Locations", "Virtual Locations", "view", None, None, False),
            (ADJUST_LOC, "Inventory adjustment", "Virtual Locations/Inventory adjustment", "inventory", 4, None, False),
            (SCRAP_LOC, "Scrap", "Virtual Locations/Scrap", "inventory", 4, None, True),
        ]
        for k, name in enumerate(self.store_names):
            code = _code(name, k)
            self.locations += [
                (10 + 2 * k, code, code, "view", None, k + 1, False),
                (11 + 2 * k, "Stock", f"{code}/Stock", "internal", 10 + 2 * k, k + 1, False),
            ]
        self.loc_usage = {row[0]: row[3] for row in self.locations}

    def _partners(self, rng: np.random.Generator) -> None:
        v, c = self.spec.vendors, self.spec.customers
        self.vendor_ids = np.arange(2, 2 + v, dtype=np.int64)
        self.customer_ids = np.arange(2 + v, 2 + v + c, dtype=np.int64)
        business = rng.random(c) < 0.3
        self.individuals, self.businesses = self.customer_ids[~business], self.customer_ids[business]
        if not len(self.businesses):
            self.businesses = self.customer_ids
        self.partner_business = business
        self._rng_names = rng.integers(0, 1 << 30, c)

    def _quants(self, rng: np.random.Generator) -> None:
        s_idx, p_idx = np.nonzero(self.carried & self.storable[None, :])
        order = np.lexsort((s_idx, p_idx))  # by product, then location
        self.q_store, self.q_product = s_idx[order], p_idx[order]
        rel = self.popularity[self.q_product] / self.popularity.max()
        self.q_cap = np.ceil(4 + 120 * rel * rng.uniform(0.5, 1.5, len(order)))
        self.q_cycle = rng.integers(7, 29, len(order)).astype(float)
        self.q_phase = rng.uniform(0, 1, len(order))
        self.q_negative = rng.random(len(order)) < 0.002

    def dims(self) -> dict[str, pa.Table]:
        spec, n = self.spec, self.spec.products
        stamp = _ts(dt.datetime.combine(spec.start - dt.timedelta(days=30), dt.time(9)))
        codes = [f"P{i:05d}" for i in range(1, n + 1)]
        leaf_names = [self.category["name"][self.category["id"].index(cid)] for cid, _d, _k in self.leaves]
        names = [f"{leaf_names[leaf]} {i:04d}" for i, leaf in enumerate(self.p_leaf, 1)]
        product = {
            "id": self.product_ids,
            "name": names,
            "default_code": codes,
            "barcode": [f"54{i:010d}{(i * 7) % 10}" for i in range(1, n + 1)],
            "category_id": self.p_category,
            "list_price": self.list_price,
            "standard_price": self.standard_price,
            "storable": self.storable,
            "sale_ok": np.ones(n, bool),
            "available_in_pos": np.ones(n, bool),
            "active": self.active,
            "write_date": np.full(n, stamp),
            "product_tmpl_id": self.product_ids,
        }
        nc = len(self.category["id"])
        category = {**self.category, "write_date": np.full(nc, stamp)}
        v, c = spec.vendors, spec.customers
        pick = self._rng_names
        person = [f"{FIRST[k % len(FIRST)]} {LAST[(k >> 5) % len(LAST)]}" for k in pick]
        trade = [f"{TRADES[k % len(TRADES)]} {CITIES[(k >> 4) % len(CITIES)]} {k % 997}" for k in pick]
        cnames = np.where(self.partner_business, trade, person)
        ids = np.concatenate([[1], self.vendor_ids, self.customer_ids])
        partner = {
            "id": ids,
            "name": ["NK Retail SA", *(f"Vendor {i:02d} NV" for i in range(1, v + 1)), *cnames],
            "ref": [None, *(f"V{i:03d}" for i in range(1, v + 1)), *(f"C{i:06d}" for i in range(1, c + 1))],
            "city": [CITIES[int(k) % len(CITIES)] for k in ids],
            "is_company": np.concatenate([[True], np.ones(v, bool), self.partner_business]),
            "customer_rank": np.concatenate([[0], np.zeros(v, int), np.ones(c, int)]),
            "supplier_rank": np.concatenate([[0], np.ones(v, int), np.zeros(c, int)]),
            "parent_id": [None] * len(ids),
            "active": np.ones(len(ids), bool),
            "write_date": np.full(len(ids), stamp),
            "lang": ["en_GB"] + [None] * (len(ids) - 1),
        }
        cols = ("id", "name", "complete_name", "usage", "parent_id", "warehouse_id", "scrap_location")
        location = {c: [row[i] for row in self.locations] for i, c in enumerate(cols)}
        location.update(active=[True] * len(self.locations), write_date=np.full(len(self.locations), stamp))
        store = {
            "id": self.store_ids,
            "name": self.store_names,
            "warehouse_id": self.store_ids,
            "active": np.ones(spec.stores, bool),
            "write_date": np.full(spec.stores, stamp),
        }
        bought = np.flatnonzero(self.storable)
        supplierinfo = {
            "id": np.arange(1, len(bought) + 1),
            "partner_id": self.vendor_ids[self.vendor_of[bought]],
            "product_tmpl_id": self.product_ids[bought],
            "product_id": [None] * len(bought),
            "sequence": np.ones(len(bought), int),
            "min_qty": self.pack[bought].astype(float),
            "delay": 2 + self.vendor_of[bought] % 3,  # what the purchases' expected dates use
            "write_date": np.full(len(bought), stamp),
        }
        s = spec.stores
        picking_type = {
            "id": np.concatenate([self.type_in, self.type_pos, self.type_int]),
            "name": ["Receipts"] * s + ["PoS Orders"] * s + ["Internal Transfers"] * s,
            "code": ["incoming"] * s + ["outgoing"] * s + ["internal"] * s,
            "warehouse_id": np.tile(self.store_ids, 3),
            "active": np.ones(3 * s, bool),
            "write_date": np.full(3 * s, stamp),
        }
        return {
            "dim_product": table("dim_product", product),
            "dim_category": table("dim_category", category),
            "dim_partner": table("dim_partner", partner),
            "dim_location": table("dim_location", location),
            "dim_store": table("dim_store", store),
            "dim_company": table(
                "dim_company",
                {"id": [1], "name": ["NK Retail SA"], "currency_id": [1], "partner_id": [1], "write_date": [stamp]},
            ),
            "dim_currency": table(
                "dim_currency",
                {
                    "id": [1],
                    "name": ["EUR"],
                    "symbol": ["€"],
                    "position": ["after"],
                    "decimal_places": [2],
                    "write_date": [stamp],
                },
            ),
            "dim_supplierinfo": table("dim_supplierinfo", supplierinfo),
            "dim_picking_type": table("dim_picking_type", picking_type),
        }

    # ---- calibration --------------------------------------------------------------------
    def _calibrate(self) -> float:
        """Orders per unit of store size on an average day, so the range averages pos_lines."""
        total = 0.0
        for day in self.spec.dates:
            total += day_factor(day, self.spec.start) * self.store_size[self._open(day)].sum()
        mean = total / self.spec.days
        return self.spec.pos_lines / LINES_PER_ORDER / mean

    def _open(self, day: dt.date) -> np.ndarray:
        if closed_day(day) or day.weekday() == 6:
            return self.sunday.copy()
        return np.ones(self.spec.stores, bool)

    def _cum_weights(self, store: int, month: int) -> np.ndarray:
        """Cumulative product weights of a store (-1: every product) in a month (season)."""
        key = (store, month)
        if key not in self._cum:
            doy = dt.date(2001, month, 15).timetuple().tm_yday
            kinds = np.array([float(season(kind, doy)) for _c, _d, kind in self.leaves])
            w = self.popularity * kinds[self.p_leaf] * self.active
            if store >= 0:
                w = w * self.carried[store]
            self._cum[key] = np.cumsum(w)
        return self._cum[key]

    def unit_cost(self, day: dt.date, products: np.ndarray) -> np.ndarray:
        """Cost in effect on ``day``: drifts up ~3 %/year, changes about 3 times a year."""
        t = (day - self.spec.start).days
        step = ((t + self.cost_phase[products]) // 122) % 3 - 1
        return np.round(self.standard_price[products] * (0.97 + 0.03 * t / 365.25) * (1 + 0.025 * step), 2)

    # ---- one date ------------------------------------------------------------------------
    def day(self, day: dt.date) -> dict[str, pa.Table]:
        rng = np.random.default_rng((self.spec.seed, 1, day.toordinal()))
        pos = self._pos(day, rng)
        inv = self._invoices(day, rng)
        sales = self._sales(day, pos, inv)
        return {
            "fact_pos_sales": pos["table"],
            "fact_invoice_sales": inv["table"],
            "fact_sales": sales,
            **aggregates(sales),
            "fact_purchases": self._purchases(day, rng),
            "fact_inventory_moves": self._moves(day, rng, pos),
            "fact_stock_quants": self._quant_levels(day),
        }

    def _pos(self, day: dt.date, rng: np.random.Generator) -> dict[str, Any]:
        spec, t, idx = self.spec, (day - self.spec.start).days, (day - EPOCH).days
        lam = self.base_orders * self.store_size * day_factor(day, spec.start) * rng.lognormal(0, 0.06)
        orders = np.where(self._open(day), rng.poisson(lam * rng.lognormal(0, 0.08, spec.stores)), 0)
        refunds = rng.poisson(0.012 * orders)
        per_store = orders + refunds
        o_store = np.repeat(np.arange(spec.stores), per_store)
        o_seq = np.concatenate([np.arange(k) for k in per_store]) if len(per_store) else np.zeros(0, int)
        o_refund = np.concatenate([np.r_[np.zeros(o, bool), np.ones(r, bool)] for o, r in zip(orders, refunds)])
        n_lines = np.where(o_refund, 1, np.minimum(rng.geometric(1 / LINES_PER_ORDER, len(o_store)), 30))
        l_order = np.repeat(np.arange(len(o_store)), n_lines)
        l_store = o_store[l_order]
        product = np.empty(len(l_order), dtype=np.int64)
        for s in range(spec.stores):
            rows = np.flatnonzero(l_store == s)
            if len(rows):
                cum = self._cum_weights(s, day.month)
                product[rows] = np.minimum(
                    np.searchsorted(cum, rng.random(len(rows)) * cum[-1], side="right"), spec.products - 1
                )
        qty = rng.choice(POS_QTY[0], len(l_order), p=POS_QTY[1]).astype(float)
        refund = o_refund[l_order]
        qty[refund] = -np.where(rng.random(refund.sum()) < 0.7, qty[refund], 1)
        discount = np.where(rng.random(len(l_order)) < 0.08, rng.choice(DISCOUNTS, len(l_order)), 0.0)
        price = self.list_price[product]
        subtotal = np.round(qty * price * (1 - discount / 100), 2)
        unit = self.unit_cost(day, product)
        computed = rng.random(len(l_order)) > 0.005
        total_cost = np.where(computed, np.round(qty * unit, 2), 0.0)
        o_partner = np.where(
            rng.random(len(o_store)) < 0.3,
            rng.choice(self.individuals, len(o_store)) if len(self.individuals) else -1,
            -1,
        )
        o_invoiced = (o_partner >= 0) & (rng.random(len(o_store)) < 0.05)
        o_id = idx * 10000 + np.arange(len(o_store))
        o_ref = _join(
            pa.array([f"{n}/" for n in self.store_names]).take(pa.array(o_store)), _digits(t * 10000 + o_seq, 8)
        )
        session = idx * 100 + o_store
        o_posref = _join(
            pa.array(["Order "] * len(o_store)),
            _digits(session % 100000, 5),
            pa.array(["-001-"] * len(o_store)),
            _digits(o_seq, 4),
        )
        o_time = _ts_day(day) + (POS_OPEN_S + np.sort(rng.integers(0, POS_HOURS_S, len(o_store)))) * 1_000_000
        take = pa.array(l_order)
        line_id = idx * 100000 + np.arange(len(l_order))
        partner = o_partner[l_order]
        columns = {
            "date": _dates(day, len(l_order)),
            "line_id": line_id,
            "order_id": o_id[l_order],
            "order_ref": o_ref.take(take),
            "pos_reference": o_posref.take(take),
            "store_id": self.store_ids[l_store],
            "session_id": session[l_order],
            "partner_id": _nullable(partner),
            "product_id": self.product_ids[product],
            "qty": qty,
            "price_unit": price,
            "discount": discount,
            "price_subtotal": subtotal,
            "price_subtotal_incl": np.round(subtotal * (1 + self.vat[product]), 2),
            "total_cost": total_cost,
            "is_total_cost_computed": computed,
            "refunded_line_id": _nullable(np.where(refund, line_id - 997, -1)),
            "order_state": _labels(("done", "invoiced"), o_invoiced[l_order]),
            "date_order": o_time[l_order],
            "write_date": o_time[l_order] + 10 * 3600 * 1_000_000,
        }
        return {
            "table": table("fact_pos_sales", columns),
            "store": l_store,
            "product": product,
            "qty": qty,
            "revenue": subtotal,
            "cost": np.where(computed, total_cost, qty * self.standard_price[product]),
            "computed": computed,
            "hour": ((o_time[l_order] // 1_000_000) % 86400 // 3600).astype(np.int8),  # the day's clock: local
            "discount": np.where(discount > 0, subtotal * discount / (100 - discount), 0.0),
            "line_id": line_id,
            "order_ref": columns["order_ref"],
            "partner": partner,
        }

    def _invoices(self, day: dt.date, rng: np.random.Generator) -> dict[str, Any]:
        spec, t, idx = self.spec, (day - self.spec.start).days, (day - EPOCH).days
        weekday = day.weekday() < 5 and not closed_day(day)
        n_inv = round(spec.invoice_lines / LINES_PER_INVOICE * rng.uniform(0.8, 1.2)) if weekday else 0
        n_cn = int(n_inv * 0.05 + rng.random()) if weekday else 0
        m_refund = np.r_[np.zeros(n_inv, bool), np.ones(n_cn, bool)]
        n_lines = np.where(
            m_refund,
            rng.integers(1, 3, len(m_refund)),
            np.minimum(rng.geometric(1 / LINES_PER_INVOICE, len(m_refund)), 15),
        )
        l_move = np.repeat(np.arange(len(m_refund)), n_lines)
        cum = self._cum_weights(-1, day.month)
        product = np.minimum(np.searchsorted(cum, rng.random(len(l_move)) * cum[-1], side="right"), spec.products - 1)
        quantity = rng.choice(B2B_QTY[0], len(l_move), p=B2B_QTY[1]).astype(float)
        m_discount = np.where(rng.random(len(m_refund)) < 0.2, rng.choice([5.0, 10.0], len(m_refund)), 0.0)
        discount = m_discount[l_move]
        price = self.list_price[product]
        subtotal = np.round(quantity * price * (1 - discount / 100), 2)
        refund = m_refund[l_move]
        balance = np.where(refund, subtotal, -subtotal)
        m_partner = rng.choice(self.businesses, len(m_refund)) if len(m_refund) else np.zeros(0, np.int64)
        m_id = idx * 10000 + np.arange(len(m_refund))
        prefix = pa.array([f"RINV/{day.year}/" if r else f"INV/{day.year}/" for r in m_refund], pa.string())
        m_ref = _join(prefix, _digits(t * 1000 + np.arange(len(m_refund)), 7))
        line_id = idx * 100000 + np.arange(len(l_move))
        stamp = _ts_day(day) + 9 * 3600 * 1_000_000
        columns = {
            "date": _dates(day, len(l_move)),
            "line_id": line_id,
            "move_id": m_id[l_move],
            "move_ref": m_ref.take(pa.array(l_move, pa.int64())),
            "move_type": _labels(("out_invoice", "out_refund"), refund),
            "partner_id": m_partner[l_move],
            "product_id": self.product_ids[product],
            "quantity": quantity,
            "price_unit": price,
            "discount": discount,
            "price_subtotal": subtotal,
            "balance": balance,
            "write_date": np.full(len(l_move), stamp),
        }
        qty = np.where(refund, -quantity, quantity)
        return {
            "table": table("fact_invoice_sales", columns),
            "product": product,
            "qty": qty,
            "revenue": -balance,
            "cost": qty * self.unit_cost(day, product),
            "discount": np.where(discount > 0, -balance * discount / (100 - discount), 0.0),
            "line_id": line_id,
            "order_ref": columns["move_ref"],
            "partner": m_partner[l_move],
        }

    def _sales(self, day: dt.date, pos: dict[str, Any], inv: dict[str, Any]) -> pa.Table:
        n_pos, n_inv = len(pos["qty"]), len(inv["qty"])
        product = np.r_[pos["product"], inv["product"]]
        revenue, cost = np.r_[pos["revenue"], inv["revenue"]], np.r_[pos["cost"], inv["cost"]]
        columns = {
            "date": _dates(day, n_pos + n_inv),
            "channel": _labels(("pos", "invoice"), np.r_[np.zeros(n_pos, int), np.ones(n_inv, int)]),
            "source_line_id": np.r_[pos["line_id"], inv["line_id"]],
            "order_ref": pa.concat_arrays([_chunk(pos["order_ref"]), _chunk(inv["order_ref"])]),
            "store_id": _nullable(np.r_[self.store_ids[pos["store"]], np.full(n_inv, -1)]),
            "partner_id": _nullable(np.r_[pos["partner"], inv["partner"]]),
            "product_id": self.product_ids[product],
            "category_id": self.p_category[product],
            "qty": np.r_[pos["qty"], inv["qty"]],
            "revenue": revenue,
            "cost": cost,
            "margin": revenue - cost,
            "cost_source": _labels(
                ("standard_price", "pos_total_cost", "valuation_layer"),
                np.r_[pos["computed"].astype(int), np.full(n_inv, 2)],
            ),
            "local_hour": pa.array(
                np.r_[pos["hour"], np.zeros(n_inv, np.int8)],
                pa.int8(),
                mask=np.r_[np.zeros(n_pos, bool), np.ones(n_inv, bool)],
            ),
            "discount": np.r_[pos["discount"], inv["discount"]],
        }
        return table("fact_sales", columns)

    def _purchases(self, day: dt.date, rng: np.random.Generator) -> pa.Table:
        spec, t, idx = self.spec, (day - self.spec.start).days, (day - EPOCH).days
        weekday = day.weekday() < 5 and not closed_day(day)
        n_po = round(spec.purchase_lines / 12 * rng.uniform(0.85, 1.15)) if weekday else 0  # ~12 distinct lines a PO
        po_store = rng.choice(spec.stores, n_po, p=self.store_size / self.store_size.sum())
        po_vendor = rng.integers(0, spec.vendors, n_po)
        products, po_of = [], []
        for i, (s, v) in enumerate(zip(po_store, po_vendor)):
            pool = self._pool(int(s), int(v))
            if not len(pool):
                continue
            w = np.cumsum(self.popularity[pool])
            k = min(int(rng.geometric(1 / LINES_PER_PURCHASE)), 60, len(pool))
            picked = np.unique(np.searchsorted(w, rng.random(k) * w[-1], side="right").clip(0, len(pool) - 1))
            products.append(pool[picked])
            po_of.append(np.full(len(picked), i))
        product = np.concatenate(products) if products else np.zeros(0, np.int64)
        l_po = np.concatenate(po_of) if po_of else np.zeros(0, np.int64)
        qty = (self.pack[product] * rng.integers(1, 5, len(product))).astype(float)
        price = self.unit_cost(day, product)
        age = (spec.end - day).days
        partial = rng.random(len(product)) < 0.03
        received = np.where(age > 2, np.where(partial, np.floor(qty * rng.uniform(0.3, 0.9, len(product))), qty), 0.0)
        invoiced = received if age > 9 else np.zeros(len(product))
        subtotal = np.round(qty * price, 2)
        po_id = idx * 1000 + np.arange(n_po)
        po_ref = _join(pa.array(["P"] * n_po, pa.string()), _digits(t * 1000 + np.arange(n_po), 7))
        approve = _ts_day(day) + (9 * 3600 + rng.integers(0, 3 * 3600, n_po)) * 1_000_000
        columns = {
            "date": _dates(day, len(product)),
            "line_id": idx * 100000 + np.arange(len(product)),
            "order_id": po_id[l_po],
            "order_ref": po_ref.take(pa.array(l_po, pa.int64())),
            "partner_id": self.vendor_ids[po_vendor[l_po]],
            "picking_type_id": self.type_in[po_store[l_po]],
            "product_id": self.product_ids[product],
            "product_qty": qty,
            "qty_received": received,
            "qty_invoiced": invoiced,
            "price_unit": price,
            "price_subtotal": subtotal,
            "price_total": np.round(subtotal * (1 + self.vat[product]), 2),
            "state": _labels(("purchase", "done"), np.full(len(product), int(age > 12))),
            "date_approve": approve[l_po],
            "write_date": approve[l_po] + min(age, 12) * 86400 * 1_000_000,
            "date_planned": _ts_day(day)
            + (2 + self.vendor_of[product] % 3) * 86400 * 1_000_000
            + 10 * 3600 * 1_000_000,
            "date_received": pa.array(
                approve[l_po] + (2 + po_vendor[l_po] % 3 + (po_vendor[l_po] % 5 == 0)) * 86400 * 1_000_000,
                pa.int64(),
                mask=np.full(len(product), age <= 2),
            ).cast(pa.timestamp("us", tz="UTC")),
        }
        return table("fact_purchases", columns)

    def _pool(self, store: int, vendor: int) -> np.ndarray:
        """The storable products ``store`` buys from ``vendor``."""
        key = (store, -1 - vendor)
        if key not in self._cum:
            self._cum[key] = np.flatnonzero((self.vendor_of == vendor) & self.carried[store] & self.storable)
        return self._cum[key]

    def _moves(self, day: dt.date, rng: np.random.Generator, pos: dict[str, Any]) -> pa.Table:
        spec, t, idx = self.spec, (day - self.spec.start).days, (day - EPOCH).days
        parts: list[dict[str, np.ndarray]] = []
        storable = self.storable[pos["product"]]
        for sign, src_kind in ((1, "delivery"), (-1, "return")):
            rows = storable & (np.sign(pos["qty"]) == sign)
            key = pos["store"][rows] * spec.products + pos["product"][rows]
            keys, inverse = np.unique(key, return_inverse=True)
            qty = np.bincount(inverse, weights=np.abs(pos["qty"][rows]), minlength=len(keys))
            store, product = keys // spec.products, keys % spec.products
            src = self.stock_loc[store] if sign > 0 else np.full(len(keys), CUSTOMERS_LOC)
            dest = np.full(len(keys), CUSTOMERS_LOC) if sign > 0 else self.stock_loc[store]
            parts.append(_moves_part(store, product, src, dest, qty, self.type_pos[store], src_kind))
        open_ = np.flatnonzero(self._open(day))
        if day.weekday() < 6 and not closed_day(day):  # receipts Monday to Saturday
            n = rng.poisson(spec.purchase_lines * 0.85)
            store = rng.choice(spec.stores, n, p=self.store_size / self.store_size.sum())
            product = np.empty(n, np.int64)
            for s in np.unique(store):
                rows = np.flatnonzero(store == s)
                cum = self._cum_weights(int(s), day.month)
                product[rows] = np.searchsorted(cum, rng.random(len(rows)) * cum[-1], side="right").clip(
                    0, spec.products - 1
                )
            keep = self.storable[product]
            store, product = store[keep], product[keep]
            qty = (self.pack[product] * rng.integers(1, 5, len(product))).astype(float)
            parts.append(
                _moves_part(
                    store,
                    product,
                    np.full(len(store), VENDORS_LOC),
                    self.stock_loc[store],
                    qty,
                    self.type_in[store],
                    "receipt",
                )
            )
        if day.weekday() < 5 and len(open_) > 1:  # transfers between stores
            for _ in range(max(1, spec.stores // 4)):
                a, b = rng.choice(open_, 2, replace=False)
                product = rng.choice(np.flatnonzero(self.carried[a] & self.carried[b] & self.storable), 6)
                qty = rng.integers(2, 12, len(product)).astype(float)
                parts.append(
                    _moves_part(
                        np.full(len(product), a),
                        product,
                        self.stock_loc[np.full(len(product), a)],
                        self.stock_loc[np.full(len(product), b)],
                        qty,
                        self.type_int[np.full(len(product), a)],
                        "internal",
                    )
                )
        for kind, count in (("adjustment", 1 + spec.stores // 3), ("scrap", 1 + spec.stores // 4)):
            store = rng.choice(open_, count)
            product = rng.choice(np.flatnonzero(self.storable), count)
            qty = rng.integers(1, 4, count).astype(float)
            if kind == "scrap":
                src, dest = self.stock_loc[store], np.full(count, SCRAP_LOC)
            else:
                inward = rng.random(count) < 0.5
                src = np.where(inward, ADJUST_LOC, self.stock_loc[store])
                dest = np.where(inward, self.stock_loc[store], ADJUST_LOC)
            parts.append(_moves_part(store, product, src, dest, qty, np.full(count, -1), kind))
        m = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        n = len(m["qty"])
        usage = self._usage
        prefix = pa.array([f"{_code(name, s)}/" for s, name in enumerate(self.store_names)]).take(pa.array(m["store"]))
        reference = _join(prefix, _labels([k[:3].upper() + "/" for k in KINDS], m["kind"]), _digits(np.full(n, t), 5))
        done = _ts_day(day) + (19 * 3600 + rng.integers(0, 3 * 3600, n)) * 1_000_000
        columns = {
            "date": _dates(day, n),
            "move_id": idx * 100000 + np.arange(n),
            "reference": reference,
            "product_id": self.product_ids[m["product"]],
            "location_id": m["src"],
            "location_dest_id": m["dest"],
            "src_usage": usage(m["src"]),
            "dest_usage": usage(m["dest"]),
            "kind": _labels(KINDS, m["kind"]),
            "qty": m["qty"],
            "product_uom_qty": m["qty"],
            "price_unit": self.unit_cost(day, m["product"]),
            "picking_type_id": _nullable(m["ptype"]),
            "date_done": done,
            "write_date": done,
        }
        return table("fact_inventory_moves", columns)

    def _usage(self, locations: np.ndarray) -> pa.Array:
        ids = sorted(self.loc_usage)
        return _labels([self.loc_usage[i] for i in ids], np.searchsorted(ids, locations))

    def _quant_levels(self, day: dt.date) -> pa.Table:
        t = (day - self.spec.start).days
        level = np.floor(self.q_cap * (1 - ((t / self.q_cycle + self.q_phase) % 1.0)))
        level[self.q_negative & (level <= 1)] = -1
        columns = {
            "date": _dates(day, len(level)),
            "product_id": self.product_ids[self.q_product],
            "location_id": self.stock_loc[self.q_store],
            "warehouse_id": self.store_ids[self.q_store],
            "quantity": level,
        }
        return table("fact_stock_quants", columns)


def _moves_part(store, product, src, dest, qty, ptype, kind) -> dict[str, np.ndarray]:
    n = len(qty)
    return {
        "store": np.asarray(store, np.int64),
        "product": np.asarray(product, np.int64),
        "src": np.asarray(src, np.int64),
        "dest": np.asarray(dest, np.int64),
        "qty": np.asarray(qty, float),
        "ptype": np.asarray(ptype, np.int64),
        "kind": np.full(n, KINDS.index(kind)),
    }


# ----------------------------------------------------------------------------- arrow helpers
def table(name: str, columns: dict[str, Any]) -> pa.Table:
    """``columns`` as a table of exactly the spec's schema; unknown columns become nulls."""
    schema = SCHEMAS[name]
    n = len(next(iter(columns.values())))
    arrays = []
    for field in schema:
        if field.name not in columns:
            MISSING.add(f"{name}.{field.name}")
            arrays.append(pa.nulls(n, field.type))
            continue
        value = columns[field.name]
        if isinstance(value, (pa.Array, pa.ChunkedArray)):
            arrays.append(_chunk(value).cast(field.type))
        elif pa.types.is_timestamp(field.type):
            arrays.append(pa.array(np.asarray(value, np.int64), pa.int64()).cast(field.type))
        else:
            arrays.append(pa.array(value, field.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


MISSING: set[str] = set()


def _chunk(value: pa.Array | pa.ChunkedArray) -> pa.Array:
    return value.combine_chunks() if isinstance(value, pa.ChunkedArray) else value


def _labels(labels: tuple[str, ...] | list[str], codes: np.ndarray) -> pa.Array:
    """``labels[code]`` for each code, as a string array (fast: no numpy strings)."""
    return pa.array(list(labels), pa.string()).take(pa.array(np.asarray(codes, np.int64)))


def _nullable(values: np.ndarray) -> pa.Array:
    """int ids where negative means null."""
    values = np.asarray(values, np.int64)
    return pa.array(values, pa.int64(), mask=values < 0)


def _dates(day: dt.date, n: int) -> pa.Array:
    return pa.array(np.full(n, (day - dt.date(1970, 1, 1)).days, np.int32), pa.int32()).cast(pa.date32())


def _digits(values: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(np.asarray(values, np.int64)).cast(pa.string()), width, "0")


def _join(*parts: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _ts(moment: dt.datetime) -> int:
    return int(moment.replace(tzinfo=dt.UTC).timestamp() * 1_000_000)


def _ts_day(day: dt.date) -> int:
    return _ts(dt.datetime.combine(day, dt.time()))


def _code(name: str, s: int) -> str:
    return f"{name[:3].upper()}{s + 1}"


# ----------------------------------------------------------------------------- building
def lake_dir(spec: LakeSpec, out: Path = OUT) -> Path:
    return out / "lakes" / spec.key


def manifest_path(spec: LakeSpec, out: Path = OUT) -> Path:
    return out / "lakes" / f"{spec.key}.json"


def cached(spec: LakeSpec, out: Path = OUT) -> dict[str, Any] | None:
    """The manifest of a finished lake for ``spec``, or None."""
    path = manifest_path(spec, out)
    if path.is_file() and lake_dir(spec, out).is_dir():
        return json.loads(path.read_text())
    return None


def build(spec: LakeSpec, out: Path = OUT, workers: int | None = None, log: Callable[[str], None] = print) -> Path:
    """The lake for ``spec`` (generated unless cached); returns its root."""
    root = lake_dir(spec, out)
    if cached(spec, out):
        return root
    started = time.perf_counter()
    workers = workers or min(2, os.cpu_count() or 1)
    lake = Lake(root)
    company = Company(spec)
    dims = company.dims()
    for name, data in dims.items():
        lake.write_whole(name, data)
    todo = [d for d in spec.dates if not all(lake.has_partition(t, d) for t in DATED_TABLES)]
    log(f"generating {len(todo)} of {spec.days} dates ({spec.describe()}) into {root} with {workers} process(es)")
    chunks = [todo[i : i + 31] for i in range(0, len(todo), 31)]
    infos: list[tuple[str, dt.date, list[PartitionInfo]]] = []
    done = 0
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(spec, str(root))) as pool:
            for result in pool.map(_write_days, chunks):
                infos += result
                done += len({d for _n, d, _i in result})
                _progress(log, done, len(todo), started)
    else:
        _init_worker(spec, str(root))
        for chunk in chunks:
            infos += _write_days(chunk)
            done += len(chunk)
            _progress(log, done, len(todo), started)
    _record_meta(lake, spec, infos)
    summary = {
        "spec": dataclasses.asdict(spec),
        "key": spec.key,
        "seconds": round(time.perf_counter() - started, 1),
        "generated_dates": len(todo),
        "missing_columns": sorted(MISSING | _WORKER_MISSING),
        **lake_stats(root),
    }
    manifest_path(spec, out).write_text(json.dumps(summary, indent=2, default=str))
    log(
        f"lake ready in {summary['seconds']} s: {summary['rows'].get('fact_sales', 0):,} fact_sales rows, "
        f"{summary['files']:,} files, {summary['bytes'] / 1e9:.2f} GB"
    )
    return root


def _progress(log: Callable[[str], None], done: int, total: int, started: float) -> None:
    if total and (done == total or done % 93 < 31):
        elapsed = time.perf_counter() - started
        log(f"  {done}/{total} dates, {elapsed:.0f} s elapsed, ~{elapsed / done * (total - done):.0f} s to go")


_WORKER: dict[str, Any] = {}
_WORKER_MISSING: set[str] = set()


def _init_worker(spec: LakeSpec, root: str) -> None:
    _WORKER["company"] = Company(spec)
    _WORKER["lake"] = Lake(root)


def _write_days(days: list[dt.date]) -> list[tuple[str, dt.date, list[PartitionInfo]]]:
    company, lake = _WORKER["company"], _WORKER["lake"]
    meta = MetaStore.for_lake(lake)
    out = []
    for day in days:
        tables = company.day(day)
        written = {name: lake.write_partition(name, day, data) for name, data in tables.items()}
        for dataset, names in DATASET_TABLES.items():
            parts = [written[n] for n in names]
            meta.set_partition(
                dataset, day, status="loaded", rows=sum(p.rows for p in parts), checksum=combined_checksum(parts)
            )  # partition states as the ETL leaves them
            out.append((dataset, day, parts))
    if MISSING:
        out.append(("_missing", days[0], [PartitionInfo(m, None, Path(), 0, 0, "") for m in sorted(MISSING)]))
    return out


def _record_meta(lake: Lake, spec: LakeSpec, infos: list[tuple[str, dt.date, list[PartitionInfo]]]) -> None:
    for dataset, _day, parts in infos:
        if dataset == "_missing":
            _WORKER_MISSING.update(p.table for p in parts)
    MetaStore.for_lake(lake).set_partition("dimensions", None, status="loaded", rows=0)


def lake_stats(root: Path) -> dict[str, Any]:
    """Files, bytes and rows per table (rows from the parquet footers)."""
    import pyarrow.parquet as pq

    lake = Lake(root, read_only=True)
    files: dict[str, int] = {}
    size: dict[str, int] = {}
    rows: dict[str, int] = {}
    for table_name, _date, path, nbytes in lake.partition_files():
        files[table_name] = files.get(table_name, 0) + 1
        size[table_name] = size.get(table_name, 0) + nbytes
        rows[table_name] = rows.get(table_name, 0) + pq.read_metadata(path).num_rows
    return {
        "files": sum(files.values()),
        "bytes": sum(size.values()),
        "files_by_table": files,
        "bytes_by_table": size,
        "rows": rows,
    }


def remove(spec: LakeSpec, out: Path = OUT) -> None:
    shutil.rmtree(lake_dir(spec, out), ignore_errors=True)
    manifest_path(spec, out).unlink(missing_ok=True)


if __name__ == "__main__":  # python -m benchmarks.synthetic [years]
    years = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    build(LakeSpec.years(years))
