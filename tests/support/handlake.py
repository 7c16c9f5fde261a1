"""A tiny hand-made lake whose every dashboard figure can be worked out on paper.

The period is Mon 10 - Sun 16 March 2025 (:data:`PERIOD`); last year is the same weeks 52
weeks earlier (Mon 11 - Sun 17 March 2024); of the previous period only Sun 9 March 2025 is
loaded. Every date of the period and of last year's is loaded (empty days included).

Stores (``dim_store``, one warehouse each): 1 North (wh 1, location 101), 2 South (wh 2,
location 102), 3 New (wh 3, location 103; opened this year). Categories: 1 All, 2 Food, 3
Drinks. Products: 10 Apple (Food, cost 1.00, vendor Fresh Farms, lead 5 days), 11 Cola
(Drinks, cost 0.50, vendor Drinks Co, lead 2 days), 12 Gift card (All, not storable), 13
Umbrella (All, cost 8.00). Vendors: 50 Fresh Farms, 51 Drinks Co. Currency EUR (after),
company language fr_BE.

Sales lines (``fact_sales``), this period::

    Mon 10  pos   North  A1  09h  Apple  4   8.00 (cost 4)  | Cola 2  3.00 (cost 1, discount 1.00)
    Tue 11  pos   North  A2  17h  Apple -1  -2.00 (cost -1)     a refund
    Wed 12  pos   South  B1  09h  Cola   6   9.00 (cost 3)
    Thu 13  inv   -     INV1  -   Cola  10  12.00 (cost 5)
    Sat 15  pos   New    C1  12h  Apple  2   4.00 (cost 2)  | Gift card 1  3.00 (cost 5): a loss

last year: Mon 11 North L1 Apple 5 10.00 (cost 5); Tue 12 South L2 Cola 4 6.00 (cost 2);
Thu 14 invoice LINV Cola 5 6.00 (cost 2.50). Previous period: Sun 9 North P1 Apple 1 2.00.
Earlier: Thu 20 February 2025 North U1 Umbrella 1 15.00 (its last sale).

Stock (``fact_stock_quants``) at the start (Mon 10) and the end (Sun 16) of the period::

    North  Apple 25 -> 20   Cola 4 -> 0   Umbrella 5 -> 5
    South  Cola 9 -> 3
    New    Apple 3 -> 1

Purchases (``fact_purchases``; unit prices Apple 1.00, Cola 0.50), all times UTC::

    PO1  Fri 14 09:00  Fresh Farms -> North  Cola 12, received 0         expected Tue 18     (open)
    PO2  Mon 10 09:00  Drinks Co   -> South  Cola 6, received 6, billed 6 expected Tue 11, received Wed 12 09:00
    PO3  Tue 11 08:00  Fresh Farms -> North  Apple 10, received 10        expected Thu 13, received Thu 13 08:00
    PO4  Wed 12 09:00  Drinks Co   -> South  Cola 4, received 0          expected Fri 14     (overdue)
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from nkdash.etl.datasets import profit
from nkdash.etl.datasets.registry import REGISTRY
from nkdash.lake import Lake

SCHEMAS: dict[str, pa.Schema] = {t.name: t.schema for spec in REGISTRY.values() for t in spec.tables}
PERIOD = (dt.date(2025, 3, 10), dt.date(2025, 3, 16))
LAST_YEAR = (dt.date(2024, 3, 11), dt.date(2024, 3, 17))
UTC = dt.UTC


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def table(name: str, rows: Iterable[dict[str, Any]]) -> pa.Table:
    """``rows`` as a table of ``name``'s contract; columns a row does not give are null."""
    schema = SCHEMAS[name]
    rows = list(rows)
    return pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema}, schema=schema)


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=UTC)


LINE_IDS = itertools.count(1)


def sale(day, channel, ref, store, product, category, qty, revenue, cost, hour=None, discount=0.0):
    return {
        "date": day,
        "channel": channel,
        "source_line_id": next(LINE_IDS),
        "order_ref": ref,
        "store_id": store,
        "product_id": product,
        "category_id": category,
        "qty": float(qty),
        "revenue": float(revenue),
        "cost": float(cost),
        "margin": float(revenue) - float(cost),
        "cost_source": "standard_price",
        "local_hour": hour,
        "discount": float(discount),
    }


D = dt.date
SALES = [
    sale(D(2025, 3, 10), "pos", "A1", 1, 10, 2, 4, 8.0, 4.0, 9),
    sale(D(2025, 3, 10), "pos", "A1", 1, 11, 3, 2, 3.0, 1.0, 9, discount=1.0),
    sale(D(2025, 3, 11), "pos", "A2", 1, 10, 2, -1, -2.0, -1.0, 17),
    sale(D(2025, 3, 12), "pos", "B1", 2, 11, 3, 6, 9.0, 3.0, 9),
    sale(D(2025, 3, 13), "invoice", "INV1", None, 11, 3, 10, 12.0, 5.0),
    sale(D(2025, 3, 15), "pos", "C1", 3, 10, 2, 2, 4.0, 2.0, 12),
    sale(D(2025, 3, 15), "pos", "C1", 3, 12, 1, 1, 3.0, 5.0, 12),
    # last year
    sale(D(2024, 3, 11), "pos", "L1", 1, 10, 2, 5, 10.0, 5.0, 10),
    sale(D(2024, 3, 12), "pos", "L2", 2, 11, 3, 4, 6.0, 2.0, 11),
    sale(D(2024, 3, 14), "invoice", "LINV", None, 11, 3, 5, 6.0, 2.5),
    # the previous period's one loaded date, and the umbrella's last sale
    sale(D(2025, 3, 9), "pos", "P1", 1, 10, 2, 1, 2.0, 1.0, 11),
    sale(D(2025, 2, 20), "pos", "U1", 1, 13, 1, 1, 15.0, 8.0, 15),
]

STOCK = {  # date -> [(warehouse, location, product, qty)]
    D(2025, 3, 10): [(1, 101, 10, 25), (1, 101, 11, 4), (1, 101, 13, 5), (2, 102, 11, 9), (3, 103, 10, 3)],
    D(2025, 3, 16): [(1, 101, 10, 20), (1, 101, 11, 0), (1, 101, 13, 5), (2, 102, 11, 3), (3, 103, 10, 1)],
}

PURCHASES = [  # order, approved (UTC), vendor, picking type, product, qty, received, invoiced, state, expected, received at
    ("PO1", at(D(2025, 3, 14), 9), 50, 201, 11, 12, 0, 0, "purchase", at(D(2025, 3, 18), 10), None),
    ("PO2", at(D(2025, 3, 10), 9), 51, 202, 11, 6, 6, 6, "done", at(D(2025, 3, 11), 10), at(D(2025, 3, 12), 9)),
    ("PO3", at(D(2025, 3, 11), 8), 50, 201, 10, 10, 10, 0, "purchase", at(D(2025, 3, 13), 10), at(D(2025, 3, 13), 8)),
    ("PO4", at(D(2025, 3, 12), 9), 51, 202, 11, 4, 0, 0, "purchase", at(D(2025, 3, 14), 10), None),
]
PRICE = {10: 1.0, 11: 0.5}

STAMP = at(D(2025, 1, 1), 8)

DIMENSIONS = {
    "dim_category": [
        {"id": 1, "name": "All", "complete_name": "All", "parent_id": None},
        {"id": 2, "name": "Food", "complete_name": "All / Food", "parent_id": 1},
        {"id": 3, "name": "Drinks", "complete_name": "All / Drinks", "parent_id": 1},
    ],
    "dim_product": [
        {
            "id": 10,
            "name": "Apple",
            "default_code": "APL",
            "category_id": 2,
            "standard_price": 1.0,
            "storable": True,
            "product_tmpl_id": 10,
        },
        {
            "id": 11,
            "name": "Cola",
            "default_code": "COL",
            "category_id": 3,
            "standard_price": 0.5,
            "storable": True,
            "product_tmpl_id": 11,
        },
        {
            "id": 12,
            "name": "Gift card",
            "default_code": "GFT",
            "category_id": 1,
            "standard_price": 5.0,
            "storable": False,
            "product_tmpl_id": 12,
        },
        {
            "id": 13,
            "name": "Umbrella",
            "default_code": "UMB",
            "category_id": 1,
            "standard_price": 8.0,
            "storable": True,
            "product_tmpl_id": 13,
        },
    ],
    "dim_store": [
        {"id": 1, "name": "North", "warehouse_id": 1, "active": True},
        {"id": 2, "name": "South", "warehouse_id": 2, "active": True},
        {"id": 3, "name": "New", "warehouse_id": 3, "active": True},
    ],
    "dim_location": [
        {"id": 100, "name": "Vendors", "complete_name": "Partners/Vendors", "usage": "supplier"},
        *(
            {"id": 100 + w, "name": "Stock", "complete_name": f"W{w}/Stock", "usage": "internal", "warehouse_id": w}
            for w in (1, 2, 3)
        ),
    ],
    "dim_partner": [
        {"id": 1, "name": "Shop SA", "lang": "fr_BE", "is_company": True},
        {"id": 50, "name": "Fresh Farms", "is_company": True},
        {"id": 51, "name": "Drinks Co", "is_company": True},
    ],
    "dim_company": [{"id": 1, "name": "Shop SA", "currency_id": 1, "partner_id": 1}],
    "dim_currency": [{"id": 1, "name": "EUR", "symbol": "€", "position": "after", "decimal_places": 2}],
    "dim_supplierinfo": [
        {"id": 1, "partner_id": 50, "product_tmpl_id": 10, "product_id": None, "sequence": 1, "delay": 5},
        {"id": 2, "partner_id": 51, "product_tmpl_id": 11, "product_id": None, "sequence": 1, "delay": 2},
        {"id": 3, "partner_id": 50, "product_tmpl_id": 11, "product_id": None, "sequence": 9, "delay": 30},  # 2nd
    ],
    "dim_picking_type": [
        {"id": 200 + w, "name": "Receipts", "code": "incoming", "warehouse_id": w, "active": True} for w in (1, 2, 3)
    ],
}


def build(root: Path) -> Lake:
    """Write the hand-made lake at ``root``: every date of the period, of last year's, the
    previous period's Sunday and the umbrella's day (empty where nothing happened)."""
    lake = Lake(root)
    for name, rows in DIMENSIONS.items():
        lake.write_whole(name, table(name, [{**r, "write_date": STAMP} for r in rows]))
    dated = {*days(*PERIOD), *days(*LAST_YEAR), D(2025, 3, 9), D(2025, 2, 20)}
    for day in sorted(dated):
        sales = table("fact_sales", [s for s in SALES if s["date"] == day])
        lake.write_partition("fact_sales", day, sales)
        for name, aggregate in profit.aggregates(sales).items():
            lake.write_partition(name, day, aggregate)
        lake.write_partition("fact_stock_quants", day, table("fact_stock_quants", _stock(day)))
        lake.write_partition("fact_purchases", day, table("fact_purchases", _purchases(day)))
        lake.write_partition("fact_inventory_moves", day, table("fact_inventory_moves", []))
    return lake


def _stock(day: dt.date) -> list[dict[str, Any]]:
    return [
        {"date": day, "product_id": p, "location_id": loc, "warehouse_id": w, "quantity": float(q)}
        for w, loc, p, q in STOCK.get(day, [])
    ]


def _purchases(day: dt.date) -> list[dict[str, Any]]:
    rows = []
    for i, (ref, approved, vendor, ptype, product, qty, received, invoiced, state, expected, arrival) in enumerate(
        PURCHASES, start=1
    ):
        if approved.date() != day:
            continue
        rows.append(
            {
                "date": day,
                "line_id": i,
                "order_id": i,
                "order_ref": ref,
                "partner_id": vendor,
                "picking_type_id": ptype,
                "product_id": product,
                "product_qty": float(qty),
                "qty_received": float(received),
                "qty_invoiced": float(invoiced),
                "price_unit": PRICE[product],
                "price_subtotal": qty * PRICE[product],
                "state": state,
                "date_approve": approved,
                "write_date": approved,
                "date_planned": expected,
                "date_received": arrival,
            }
        )
    return rows
