"""A deterministic, realistic retail company for the demo Odoo.

The company
-----------
*NK Retail SA* runs Belgian shops (``Scale.stores``; 20 at full scale) selling groceries,
drinks, household, personal-care and leisure goods, plus a few services (delivery, gift
wrapping...) and store supplies (carrier bags). Each shop is a ``pos.config`` with its own
``stock.warehouse`` (``BRU/Stock``...) and operation types (Receipts, PoS Orders,
Internal Transfers). Shop 1 is the flagship (08:00-22:00, 7/7); shop 2 is a station
night shop (07:00-00:30, 7/7) whose sessions run past local midnight; the others open
08:30-20:00 Monday to Saturday. Customer invoices, credit notes and purchases happen on
weekdays, so weekend dates have POS activity only.

Every business day (dates in ``DemoConfig.tz``; stored datetimes are naive UTC):

- **POS**: one session per open shop (``POS/00012``); orders (``Brussels Centre/0042``,
  receipt ``Order 00012-001-0042``) with line discounts, ~70 % anonymous, a few
  cancelled, some invoiced (an ``account.move`` with ``invoice_origin`` = order name),
  refunds (negative quantities, ``refunded_orderline_id``). Sessions close after hours:
  lines get ``total_cost`` (qty x standard cost in effect at order time) and one
  delivery move per product goes WH/Stock -> Partners/Customers (returns back).
  On the last day the first two sessions are still ``opened`` / ``closing_control``:
  their orders are ``paid`` (some ``draft``) and their lines are not costed yet.
- **Customer invoices** (``INV/2026/00001``) with product, tax and payment-term lines;
  credit notes (``RINV/2026/00001``) reversing earlier invoices; drafts (named ``/``),
  cancellations, invoices posted the next day or paid weeks later (late ``write_date``).
- **Purchases** (``P00001``): each shop reviews each vendor on a rotating cycle and
  orders what fell below its reorder level. Receipts arrive 1-3 days later (some
  partial, with a backorder done later, cancelled or still open); vendor bills
  (``BILL/2026/03/0001``, ``in_invoice``) follow the receipts.
- **Stock**: an opening inventory adjustment on the first morning, internal transfers
  between shops, cycle-count adjustments, scraps, and zero-stock adjustments when a
  product is archived. Quants equal the sum of all done moves per (product, location).
- **Costs**: each storable product's standard price changes a few times a year, at
  00:00 local time; in 16-18 every change leaves a ``stock.valuation.layer``
  (quantity 0, value 0, ``unit_cost`` = the new price), as do all valued moves.

Everything comes from ``random.Random(seed)``: the same config gives the same database.

Cost in effect (the ETL's rule)
-------------------------------
The cost of a product on business date D is the ``unit_cost`` of its latest
``stock.valuation.layer`` (ordered by ``create_date``, then id) created before the end
of D in local time, else its current ``standard_price``. POS ``total_cost`` uses exactly
that price (night orders after midnight use the next date's price). Odoo 19 has no
layers: the rule falls back to ``standard_price``, which is only right for recent dates.

Edge cases, and the domain that finds them
------------------------------------------
- refunds: ``pos.order.line`` ``[("qty", "<", 0)]`` (``refunded_orderline_id`` set)
- discounts: ``pos.order.line`` ``[("discount", ">", 0)]``
- invoiced POS orders: ``pos.order`` ``[("account_move", "!=", False)]``; state
  ``invoiced`` in 16-18, ``done`` (or ``paid``) in 19; their invoices have ``pos_order_ids``
- orders without customer: ``pos.order`` ``[("partner_id", "=", False)]``
- draft / cancelled: ``pos.order`` ``[("state", "in", ("draft", "cancel"))]``; drafts only
  in the last day's open sessions; ``account.move`` and ``purchase.order`` likewise
  (plus ``sent`` RFQs); draft invoices are named ``/``
- not yet costed: ``pos.order.line`` ``[("is_total_cost_computed", "=", False)]``
  (open sessions: ``pos.session`` ``[("state", "!=", "closed")]``)
- archived products still in old orders: ``product.product`` ``[("active", "=", False)]``
  with ``context={"active_test": False}``
- local date != UTC date: orders of the night shop between 00:00 and 00:30 local
- credit notes: ``account.move`` ``[("move_type", "=", "out_refund")]``
  (``reversed_entry_id`` set); vendor bills are ``in_invoice`` and carry product lines too
- late edits within history: ``write_date`` days after ``date`` / ``create_date``
  (invoices posted the next day or paid later, purchase lines updated at receipt,
  receipts validated days after confirmation); :func:`apply_late_edits` adds more
- ``stock.move`` of 17+ in state ``assigned`` show their reserved ``quantity``: only
  ``state = done`` moves count
- weekends: customer invoices, credit notes and purchases happen Monday to Friday only

Streaming
---------
:func:`iter_days` yields ``(None, dimensions)``, then ``(date, records)`` per day, then
``(None, {"stock.quant": ...})``. Each batch maps model -> records with ascending ids.
A day's batch holds what was created or validated that day, already in its state as of
the last day (a receipt validated on the 5th of an order confirmed on the 3rd is in the
5th's batch, with ``create_date`` the 3rd). :func:`generate` loads all of it into a
:class:`~nkdash.demo.store.Database`.

Measured (CPU time, Python 3.11, one core):

- tiny, 60 days: 0.2 s, 14 k records, peak RSS 37 MB; small, 60 days: 1.3 s, 106 k
  records, 97 MB.
- full, ``generate(days=1)``: 3.2 s, 326 k records (the opening inventory alone is
  80 k moves + 80 k layers; 81 k quants), 235 MB; ``generate(days=7)``: 6.6 s, 617 k
  records, 420 MB.
- full, ``iter_days``: dimensions 0.7 s, first day 1.8 s, then 0.7 s per Monday-Saturday
  (about 60 k records: 20 k POS lines, 5 k journal items, 2 k purchase lines, 15 k moves
  and as many layers); a whole year streams in about 5 minutes at 205 MB peak RSS.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from ..errors import InputError
from .schema import define_models
from .store import Database, User, fmt_datetime

__all__ = ["SCALES", "Scale", "DemoConfig", "generate", "iter_days", "apply_late_edits"]

Record = dict[str, Any]
Batch = dict[str, list[Record]]


# --------------------------------------------------------------------------- config

@dataclass(frozen=True)
class Scale:
    """How big the company is."""

    stores: int
    products: int
    customers: int
    vendors: int
    orders_per_store_day: int
    lines_per_order: float          # mean
    invoices_per_day: int           # customer invoices per weekday
    purchases_per_day: int          # purchase orders per weekday (target)


SCALES: dict[str, Scale] = {
    "tiny": Scale(stores=2, products=60, customers=40, vendors=4, orders_per_store_day=12,
                  lines_per_order=2.5, invoices_per_day=3, purchases_per_day=2),
    "small": Scale(stores=5, products=300, customers=500, vendors=10, orders_per_store_day=40,
                   lines_per_order=3.0, invoices_per_day=10, purchases_per_day=8),
    "medium": Scale(stores=10, products=5000, customers=5000, vendors=30, orders_per_store_day=120,
                    lines_per_order=3.5, invoices_per_day=60, purchases_per_day=40),
    "full": Scale(stores=20, products=5000, customers=20000, vendors=40, orders_per_store_day=285,
                  lines_per_order=3.5, invoices_per_day=400, purchases_per_day=110),
}


@dataclass(frozen=True)
class DemoConfig:
    version: int = 17
    seed: int = 42
    scale: str = "small"
    days: int = 60
    end: dt.date | None = None          # last business date with activity; default yesterday in tz
    tz: str = "Europe/Brussels"
    db_name: str = "demo"
    login: str = "admin"
    password: str = field(default="admin", repr=False)
    api_key: str = field(default="demo-api-key", repr=False)   # JSON-2 bearer key (Odoo 19)

    def __post_init__(self) -> None:
        if self.version not in (16, 17, 18, 19):
            raise InputError("the demo Odoo plays versions 16, 17, 18 or 19", self.version)
        if self.scale not in SCALES:
            raise InputError(f"unknown scale (expected one of {', '.join(SCALES)})", self.scale)
        if self.days < 1:
            raise InputError("days must be at least 1", self.days)


# --------------------------------------------------------------------------- public API

def generate(config: DemoConfig = DemoConfig()) -> Database:
    """The whole company as a database, ready to serve."""
    sim = _Simulation(config)
    db = Database(config.db_name, config.version, company_tz=config.tz, now=sim.now)
    define_models(db)
    for _day, batch in sim.run():
        _load(db, batch)
    db.users.update(sim.company.logins)
    return db


def iter_days(config: DemoConfig) -> Iterator[tuple[dt.date | None, Batch]]:
    """Stream the company: dimensions, then one batch per day, then the stock quants."""
    yield from _Simulation(config).run()


def apply_late_edits(db: Database, when: dt.datetime, n: int = 5, seed: int = 0) -> dict[str, list[int]]:
    """Change past records the way Odoo users do after a nightly load; returns model -> ids.

    ``n`` edits of each kind: a discount given afterwards on old POS order lines, the
    closing of sessions left open (lines get their cost, deliveries are made), posted
    invoices cancelled, credit notes posted with an old date, receipts whose quantity is
    corrected. Every edited or created record gets ``write_date = when``; order and
    invoice totals, quants and valuation layers stay consistent.
    """
    edits = _LateEdits(db, when, random.Random(seed))
    for kind in (edits.discount_pos_lines, edits.close_open_sessions, edits.cancel_invoices,
                 edits.backdated_credit_notes, edits.correct_receipts):
        kind(n)
    db.now = max(db.now, edits.when)
    db.notify()   # records changed in place: the server's indexes must be rebuilt
    return {model: sorted(ids) for model, ids in edits.changed.items()}


def _load(db: Database, batch: Batch) -> None:
    for name, records in batch.items():
        model = db.models[name]
        model.records.update((r["id"], r) for r in records)
        model.next_id = max(model.next_id, records[-1]["id"] + 1)


# --------------------------------------------------------------------------- the catalogue

@dataclass(frozen=True)
class _Sub:
    name: str
    vat: float
    low: float                      # price range, VAT included
    high: float
    bases: tuple[str, ...]
    sizes: tuple[str, ...]


@dataclass(frozen=True)
class _Dept:
    name: str
    share: float                    # of the goods in the catalogue
    brands: tuple[str, ...]
    qualifiers: tuple[str, ...]
    trade: str                      # vendors' trade ("Ardennes Foods NV")
    packs: tuple[int, ...]          # purchase pack sizes
    subs: tuple[_Sub, ...]


_DEPARTMENTS = (
    _Dept("Food", 0.45, ("NK Select", "Boerenhof", "Ardenna", "Maison Lune", "Polderland", "Vita Verde"),
          ("", "Organic ", "Family "), "Foods", (6, 12), (
        _Sub("Dairy", 0.06, 0.9, 7.5, ("Whole Milk", "Semi-Skimmed Milk", "Greek Yogurt", "Butter", "Gouda Cheese",
                                       "Brie", "Fresh Cream", "Skyr"), ("250 g", "500 g", "1 L", "4 x 125 g")),
        _Sub("Bakery", 0.06, 0.8, 6.5, ("Sourdough Bread", "Croissants", "Baguette", "Rye Bread", "Waffles",
                                        "Speculoos", "Muffins", "Pain au Chocolat"),
             ("1 pc", "4 pcs", "400 g", "800 g")),
        _Sub("Fruit & Vegetables", 0.06, 0.9, 6.5, ("Apples", "Bananas", "Tomatoes", "Carrots", "Potatoes", "Leeks",
                                                    "Strawberries", "Salad Mix"), ("250 g", "500 g", "1 kg", "2 kg")),
        _Sub("Meat & Fish", 0.06, 2.5, 19.0, ("Chicken Breast", "Minced Beef", "Pork Chops", "Salmon Fillet",
                                              "Cod Fillet", "Ham Slices", "Salami", "Meatballs"),
             ("200 g", "400 g", "600 g", "1 kg")),
        _Sub("Frozen", 0.06, 1.5, 9.0, ("Pizza Margherita", "French Fries", "Garden Peas", "Vanilla Ice Cream",
                                        "Fish Sticks", "Spinach", "Lasagne", "Mixed Berries"),
             ("300 g", "450 g", "750 g", "1 kg")),
        _Sub("Pantry", 0.06, 0.7, 9.5, ("Spaghetti", "Basmati Rice", "Olive Oil", "Tomato Sauce", "Mayonnaise",
                                        "Chocolate Spread", "Cornflakes", "Peanut Butter"),
             ("250 g", "500 g", "750 ml", "1 kg")),
        _Sub("Snacks & Sweets", 0.06, 0.9, 7.5, ("Potato Chips", "Milk Chocolate", "Dark Chocolate", "Pralines",
                                                 "Butter Cookies", "Salted Peanuts", "Gummy Bears", "Cereal Bars"),
             ("100 g", "200 g", "250 g", "400 g")),
    )),
    _Dept("Beverages", 0.20, ("NK Select", "Brasserie Vos", "Bron Vive", "Kaffa", "Domaine Sauret", "Fizzo"),
          ("", "Zero ", "Premium "), "Drinks", (6, 12, 24), (
        _Sub("Soft Drinks", 0.06, 0.8, 4.5, ("Cola", "Lemonade", "Orange Soda", "Iced Tea", "Tonic", "Ginger Ale",
                                             "Energy Drink", "Apple Juice"), ("33 cl", "50 cl", "1.5 L", "6 x 33 cl")),
        _Sub("Water", 0.06, 0.4, 4.0, ("Still Water", "Sparkling Water", "Mineral Water", "Flavoured Water",
                                       "Spring Water", "Lightly Sparkling Water"),
             ("50 cl", "1 L", "1.5 L", "6 x 1.5 L")),
        _Sub("Coffee & Tea", 0.06, 1.9, 12.0, ("Ground Coffee", "Coffee Beans", "Coffee Capsules", "Green Tea",
                                               "Black Tea", "Herbal Tea", "Instant Coffee", "Rooibos"),
             ("20 pcs", "250 g", "500 g", "1 kg")),
        _Sub("Beer", 0.21, 0.9, 14.0, ("Pils", "Blonde Ale", "Tripel", "Dubbel", "Witbier", "Saison", "Kriek", "IPA"),
             ("25 cl", "33 cl", "75 cl", "6 x 25 cl")),
        _Sub("Wine & Spirits", 0.21, 4.5, 32.0, ("Red Wine", "White Wine", "Rosé", "Cava", "Jenever", "Gin", "Port",
                                                "Crémant"), ("37.5 cl", "50 cl", "75 cl", "1 L")),
    )),
    _Dept("Household", 0.13, ("NK Home", "Clarex", "Pureté", "Nordwash", "Maxiclean", "Ecosoft"),
          ("", "Eco ", "Extra Strong "), "Home Supplies", (4, 6), (
        _Sub("Cleaning", 0.21, 1.2, 9.0, ("All-Purpose Cleaner", "Glass Cleaner", "Bleach", "Dish Soap", "Sponges",
                                          "Floor Cleaner", "Descaler", "Toilet Gel"),
             ("500 ml", "750 ml", "1 L", "3 pcs")),
        _Sub("Laundry", 0.21, 2.5, 19.0, ("Laundry Liquid", "Washing Powder", "Fabric Softener", "Stain Remover",
                                          "Laundry Pods", "Wool Detergent"), ("1 L", "2 L", "20 washes", "40 washes")),
        _Sub("Paper Goods", 0.21, 1.5, 12.0, ("Toilet Paper", "Kitchen Towels", "Tissues", "Napkins", "Baking Paper",
                                              "Aluminium Foil"), ("4 rolls", "8 rolls", "12 rolls", "24 pcs")),
        _Sub("Kitchenware", 0.21, 2.9, 34.0, ("Frying Pan", "Saucepan", "Chef Knife", "Cutting Board", "Storage Box",
                                              "Mixing Bowl", "Colander", "Whisk"), ("S", "M", "L", "Set of 3")),
    )),
    _Dept("Personal Care", 0.12, ("NK Care", "Doucea", "Lumis", "Dentaro", "BabySoft", "Aqualis"),
          ("", "Sensitive ", "Fresh "), "Cosmetics", (4, 6), (
        _Sub("Hair Care", 0.21, 2.0, 11.0, ("Shampoo", "Conditioner", "Hair Gel", "Hair Spray", "Hair Mask",
                                            "Dry Shampoo"), ("200 ml", "250 ml", "400 ml", "2 x 250 ml")),
        _Sub("Skin Care", 0.21, 2.5, 24.0, ("Day Cream", "Night Cream", "Body Lotion", "Hand Cream", "Sun Cream SPF 30",
                                            "Shower Gel", "Deodorant", "Lip Balm"),
             ("50 ml", "150 ml", "250 ml", "400 ml")),
        _Sub("Oral Care", 0.21, 1.5, 9.0, ("Toothpaste", "Toothbrush", "Mouthwash", "Dental Floss", "Whitening Strips"),
             ("1 pc", "75 ml", "2 pcs", "500 ml")),
        _Sub("Baby Care", 0.21, 2.5, 26.0, ("Diapers", "Baby Wipes", "Baby Shampoo", "Baby Lotion", "Nappy Cream",
                                            "Baby Bottle"), ("size 3", "size 4", "64 pcs", "200 ml")),
    )),
    _Dept("Home & Leisure", 0.10, ("NK Home", "Kidoo", "Scriba", "GreenPlot", "Voltex", "Joyo"),
          ("", "Deluxe ", "Mini "), "Trading", (1, 2, 4), (
        _Sub("Toys", 0.21, 3.5, 45.0, ("Building Blocks", "Puzzle", "Plush Bear", "Toy Car", "Board Game", "Card Game",
                                       "Doll", "Kite"), ("S", "M", "L", "XL")),
        _Sub("Stationery", 0.21, 0.9, 14.0, ("Notebook", "Ballpoint Pens", "Colour Pencils", "Glue Stick",
                                             "Sticky Notes", "Ring Binder", "Scissors", "Envelopes"),
             ("1 pc", "3 pcs", "10 pcs", "A4")),
        _Sub("Garden", 0.21, 2.5, 39.0, ("Potting Soil", "Flower Seeds", "Garden Gloves", "Watering Can", "Plant Food",
                                         "Bird Seed", "Flower Pot", "Pruning Shears"), ("S", "M", "L", "20 L")),
        _Sub("Electronics Accessories", 0.21, 3.0, 39.0, ("USB-C Cable", "AA Batteries", "Phone Charger", "Earphones",
                                                          "Power Bank", "LED Bulb", "Extension Cord", "HDMI Cable"),
             ("1 pc", "1 m", "2 m", "4 pcs")),
    )),
)
# (category path, code, kind, [(name, list price excl. VAT, cost)])
_EXTRAS = (
    (("Store Supplies", "Bags"), "SUP", "consu", (("Reusable Carrier Bag", 0.41, 0.14), ("Paper Bag", 0.09, 0.03))),
    (("Services", "In-Store Services"), "SRV", "service", (
        ("Home Delivery", 4.13, 2.60), ("Gift Wrapping", 2.07, 0.35),
        ("Extended Warranty 2 Years", 12.40, 3.10), ("Key Cutting", 4.96, 1.20))),
)
_EXTRA_COUNT = sum(len(products) for *_rest, products in _EXTRAS)
_PRICE_ENDINGS = (0.29, 0.49, 0.79, 0.99)                               # of prices VAT included

_COMPANY = "NK Retail SA"
_SITES = (
    ("Brussels Centre", "BRU"), ("Antwerp Central Station", "ANT"), ("Ghent Korenmarkt", "GNT"),
    ("Liège Cathédrale", "LGE"), ("Leuven Ladeuzeplein", "LEU"), ("Bruges Markt", "BRG"),
    ("Namur Gare", "NAM"), ("Mechelen Bruul", "MEC"), ("Hasselt Grote Markt", "HAS"),
    ("Charleroi Ville 2", "CRL"), ("Mons Grand-Place", "MON"), ("Kortrijk K", "KOR"),
    ("Ostend Kursaal", "OST"), ("Aalst Houtmarkt", "AAL"), ("Genk Shopping 1", "GNK"),
    ("Wavre Esplanade", "WAV"), ("Sint-Niklaas Waasland", "SNK"), ("Tournai Bastions", "TOU"),
    ("Turnhout Grote Markt", "TUR"), ("Arlon Belle-Vue", "ARL"),
)
_FIRST = ("Emma", "Louis", "Olivia", "Arthur", "Louise", "Jules", "Mila", "Noah", "Elena", "Lucas", "Alice",
          "Adam", "Lina", "Victor", "Nora", "Gabriel", "Marie", "Liam", "Julie", "Thomas", "Sofie", "Pieter",
          "Camille", "Hugo", "Anna", "Wout", "Charlotte", "Lars", "Ines", "Milan")
_LAST = ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet",
         "Dubois", "Lambert", "Dupont", "Martin", "Simon", "Laurent", "Leroy", "Vermeulen", "Van Damme", "Hermans",
         "Pauwels", "Desmet", "Lemaire", "Renard", "Aerts", "Michiels", "Declercq", "Coppens", "Segers", "Nys")
_CITIES = ("Brussels", "Antwerp", "Ghent", "Charleroi", "Liège", "Bruges", "Namur", "Leuven", "Mons", "Mechelen",
           "Aalst", "Hasselt", "Kortrijk", "Ostend", "Tournai", "Genk", "Wavre", "Arlon", "Turnhout", "Sint-Niklaas")
_TRADES = ("Restaurant", "Café", "Hotel", "Brasserie", "Bakery", "School", "Daycare", "Catering", "Sports Club")
_PLACES = ("Ardennes", "Kempen", "Polder", "Meuse", "Scheldt", "Haspengouw", "Famenne", "Westhoek", "Condroz",
           "Brabant", "Gaume", "Hageland", "Pajottenland", "Meetjesland", "Waasland", "Zenne", "Dender", "Leie",
           "Ourthe", "Semois")
_LEGAL = ("NV", "SA", "BV", "SRL")
_CASHIER_MODELS = frozenset({"pos.config", "pos.session", "pos.order", "pos.order.line", "product.product",
                             "product.category", "res.partner", "res.users", "res.company", "res.currency"})
_CASHIER_PASSWORD = "cashier"

# Selling behaviour.
_QTY = (1,) * 70 + (2,) * 20 + (3,) * 6 + (4,) * 2 + (6,) * 2          # units per POS line
_INVOICE_LINES = 5.0                                                   # mean lines per customer invoice
_B2B_QTY = (1, 2, 2, 3, 4, 5, 6, 6, 10, 12, 12, 20, 24)               # units per invoice line
_DISCOUNTS = (5.0, 10.0, 10.0, 15.0, 20.0, 20.0, 25.0, 30.0, 50.0)
_HOURLY = {7: .5, 8: .6, 9: .7, 10: .9, 11: 1.2, 12: 1.6, 13: 1.3, 14: .9, 15: .9, 16: 1.2, 17: 1.7, 18: 1.6,
           19: 1.0, 20: .7, 21: .5, 22: .35, 23: .25}
_WEEKDAY = (0.9, 0.9, 0.95, 1.0, 1.15, 1.3, 0.75)                      # order volume, Monday first
_DISCOUNT_RATE, _CUSTOMER_RATE, _INVOICE_RATE, _CANCEL_RATE = 0.07, 0.3, 0.05, 0.01
_REFUND_RATE, _REFUND_WINDOW = 0.015, 14                               # refunds per order; days back
_COST_CHANGES_PER_YEAR = 3.0
_PURCHASE_FATES = (("cancel", 0.03), ("draft", 0.02), ("sent", 0.02))      # else confirmed
_INVOICE_FATES = (("draft", 0.03), ("cancel", 0.03), ("next day", 0.15))   # else posted at once
_OPEN_STATES = ("opened", "closing_control")                           # last day's first sessions

_HOUR = 3600
_DAY_S = 24 * _HOUR
_ONE_DAY = dt.timedelta(days=1)
_SETUP_DAYS = 120                                                      # dimensions predate history
_ADJUSTMENT = "Product Quantity Updated"
_STORABLE, _CONSU, _SERVICE = "storable", "consu", "service"


# --------------------------------------------------------------------------- time

class _Clock:
    """Local business time (a day + seconds after its midnight) -> Odoo's naive-UTC string."""

    # From 03:00 to 26:00 (02:00 next day) a day has one UTC offset: DST switches at 02:00/03:00.
    _FAST = range(3 * _HOUR, 26 * _HOUR)

    def __init__(self, tz: str):
        self.tz = ZoneInfo(tz)
        self._midnights: dict[dt.date, dt.datetime] = {}

    def at(self, day: dt.date, seconds: int) -> str:
        if seconds in self._FAST:
            base = self._midnights.get(day) or self._midnight(day)
            return (base + dt.timedelta(seconds=seconds)).isoformat(" ")
        return fmt_datetime(self.exact(day, seconds))

    def exact(self, day: dt.date, seconds: int) -> dt.datetime:
        local = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
        return local.replace(tzinfo=self.tz).astimezone(dt.timezone.utc).replace(tzinfo=None)

    def _midnight(self, day: dt.date) -> dt.datetime:
        offset = dt.datetime.combine(day, dt.time(12), tzinfo=self.tz).utcoffset()
        base = self._midnights[day] = dt.datetime.combine(day, dt.time()) - offset
        return base


def _yesterday(tz: str) -> dt.date:
    return dt.datetime.now(ZoneInfo(tz)).date() - _ONE_DAY


def _weekday_on_or_after(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += _ONE_DAY
    return day


def _not_sunday(day: dt.date) -> dt.date:
    return day + _ONE_DAY if day.weekday() == 6 else day


# --------------------------------------------------------------------------- bookkeeping

class _Books:
    """Sequential ids per model, name sequences, and the batch being filled."""

    def __init__(self) -> None:
        self.batch: defaultdict[str, list[Record]] = defaultdict(list)
        self._ids: defaultdict[str, int] = defaultdict(int)
        self._seqs: defaultdict[object, int] = defaultdict(int)

    def add(self, model: str, record: Record) -> int:
        rid = self._ids[model] + 1
        self._ids[model] = rid
        record["id"] = rid
        self.batch[model].append(record)
        return rid

    def seq(self, key: object) -> int:
        self._seqs[key] += 1
        return self._seqs[key]

    def flush(self) -> Batch:
        batch, self.batch = dict(self.batch), defaultdict(list)
        return batch


@dataclass(eq=False, slots=True)
class _Item:
    """A product as the simulation sees it; the record itself went out with the dimensions."""

    index: int
    id: int
    label: str                      # "[CODE] Name": line, move and layer descriptions
    price: float                    # list price, VAT excluded
    vat: float
    kind: str
    vendor: int                     # vendor partner id, 0 if never purchased
    pack: int
    weight: float                   # popularity
    base_cost: float                # standard price when history starts
    archive_day: dt.date | None = None
    active: bool = True

    @property
    def storable(self) -> bool:
        return self.kind == _STORABLE


@dataclass(eq=False, slots=True)
class _Vendor:
    id: int
    lead: int                       # days between confirmation and receipt


@dataclass(eq=False, slots=True)
class _Store:
    index: int
    name: str
    code: str
    size: float                     # order volume factor (mean 1)
    days: frozenset[int]            # open weekdays
    open_s: int
    close_s: int
    night: bool                     # also sells 23:30-00:30 (session closes after midnight)
    config_id: int = 0
    stock_loc: int = 0
    type_in: int = 0
    type_pos: int = 0
    type_int: int = 0
    cashier: int = 0
    carries: list[bool] = field(default_factory=list)       # by item index
    catalog: list[_Item] = field(default_factory=list)
    cum: list[float] = field(default_factory=list)          # cumulative popularity over catalog
    by_vendor: dict[int, list[_Item]] = field(default_factory=dict)
    on_hand: list[int] = field(default_factory=list)        # units sellable now, by item index
    on_order: list[int] = field(default_factory=list)
    reorder: list[int] = field(default_factory=list)        # reorder level
    slots: list[int] = field(default_factory=list)          # quarter-hour starts of opening hours
    slot_cum: list[float] = field(default_factory=list)
    order_seq: int = 0
    line_seq: int = 0
    refundable: list[tuple] = field(default_factory=list)   # (ordinal, line id, item, qty, discount, partner)

    def drop_archived(self) -> None:
        self.catalog = [item for item in self.catalog if item.active]
        self.cum = list(itertools.accumulate(item.weight for item in self.catalog))


# --------------------------------------------------------------------------- the simulation

class _Simulation:
    """Holds the state of the company and plays its days in order."""

    def __init__(self, config: DemoConfig):
        self.cfg = config
        self.scale = SCALES[config.scale]
        self.version = config.version
        self.rng = random.Random(config.seed)
        self.clock = _Clock(config.tz)
        self.end = config.end or _yesterday(config.tz)
        self.start = self.end - dt.timedelta(days=config.days - 1)
        self.now = self.clock.exact(self.end + _ONE_DAY, 3 * _HOUR)
        self.books = _Books()
        self.agenda: defaultdict[dt.date, list[Callable[[], None]]] = defaultdict(list)
        self.company = _Company(self)
        self.costs = self.company.costs
        self.stock = _Stock(self)
        self.invoices = _Invoices(self)
        self.pos = _Pos(self)
        self.purchases = _Purchases(self)
        self.operations = _Operations(self)

    def run(self) -> Iterator[tuple[dt.date | None, Batch]]:
        yield None, self.books.flush()
        day = self.start
        while day <= self.end:
            yield day, self._play(day)
            day += _ONE_DAY
        self.stock.emit_quants()
        yield None, self.books.flush()

    def _play(self, day: dt.date) -> Batch:
        self.stock.revalue(day, self.costs.start_day(day))
        if day == self.start:
            self.stock.opening_inventory(day)
        for event in self.agenda.pop(day, ()):
            event()
        self.operations.morning(day)
        self.pos.play(day)
        if day.weekday() < 5:
            self.invoices.play(day)
            self.purchases.play(day)
        self.operations.evening(day)
        return self.books.flush()

    def at(self, day: dt.date, seconds: float) -> str:
        return self.clock.at(day, int(seconds))

    def open_stores(self, day: dt.date) -> list[_Store]:
        return [s for s in self.company.stores if day.weekday() in s.days]


# --------------------------------------------------------------------------- dimensions

class _Company:
    """Company, users, partners, categories, products, locations, warehouses and shops.

    Building the products also plans their costs (``self.costs``): product records carry
    their final standard price.
    """

    def __init__(self, sim: _Simulation):
        self.sim = sim
        self.rng = sim.rng
        self.books = sim.books
        self.setup_day = sim.start - dt.timedelta(days=_SETUP_DAYS)
        self.setup = sim.at(self.setup_day, 9 * _HOUR)
        self.logins: dict[str, User] = {}
        self._company()
        self.stores = self._plan_stores()
        self._users()
        self.individuals, self.businesses = self._customers()
        self.vendors = self._vendors()
        self.items = self._products()
        self._locations()
        for store in self.stores:
            self._shop(store)
        self.sellable: list[_Item] = []
        self.sellable_cum: list[float] = []
        self.refresh_sellable()

    def add(self, model: str, record: Record, created: str | None = None, written: str | None = None) -> int:
        record["create_date"] = created or self.setup
        record["write_date"] = written or record["create_date"]
        return self.books.add(model, record)

    def refresh_sellable(self) -> None:
        """What customer invoices may contain: active goods and services."""
        self.sellable = [it for it in self.items if it.active and it.kind != _CONSU]
        self.sellable_cum = list(itertools.accumulate(it.weight for it in self.sellable))

    def review_cycle(self) -> int:
        """Weekdays between two purchase reviews of the same (shop, vendor) pair."""
        scale = self.sim.scale
        return max(1, round(scale.stores * len(self.vendors) / scale.purchases_per_day))

    # -- company, users, partners

    def _company(self) -> None:
        self.add("res.currency", {"name": "EUR", "symbol": "€"})
        self.add("res.company", {"name": _COMPANY, "currency_id": 1, "partner_id": 1})
        self._partner(_COMPANY, is_company=True, email="info@nk-retail.example", city="Brussels", company=1)
        self._partner("OdooBot", active=False, email="odoobot@example.com", company=1)
        self._partner("Administrator", email="admin@nk-retail.example", city="Brussels", company=1)

    def _partner(self, name: str, *, is_company: bool = False, email: str | bool = False, city: str | bool = False,
                 ref: str | bool = False, customer: int = 0, supplier: int = 0, company: int | bool = False,
                 active: bool = True, created: str | None = None, written: str | None = None) -> int:
        return self.add("res.partner", {
            "name": name, "ref": ref, "email": email, "city": city, "is_company": is_company,
            "customer_rank": customer, "supplier_rank": supplier, "parent_id": False,
            "company_id": company, "active": active}, created, written)

    def _users(self) -> None:
        cfg = self.sim.cfg
        self.add("res.users", {"name": "OdooBot", "login": "__system__", "tz": cfg.tz, "partner_id": 2,
                               "company_id": 1, "active": False})
        self.add("res.users", {"name": "Administrator", "login": cfg.login, "tz": cfg.tz, "partner_id": 3,
                               "company_id": 1, "active": True})
        self.logins[cfg.login] = User(cfg.login, cfg.password, 2, api_key=cfg.api_key)
        for store in self.stores:
            first, last = _FIRST[store.index % len(_FIRST)], _LAST[store.index * 7 % len(_LAST)]
            login = f"{first}.{last}".lower().replace(" ", "")
            partner = self._partner(f"{first} {last}", email=f"{login}@nk-retail.example", company=1)
            store.cashier = self.add("res.users", {"name": f"{first} {last}", "login": login, "tz": cfg.tz,
                                                   "partner_id": partner, "company_id": 1, "active": True})
            self.logins[login] = User(login, _CASHIER_PASSWORD, store.cashier, allowed_models=_CASHIER_MODELS)

    def _before_history(self) -> str:
        """A creation time between setup and the first business day."""
        day = self.setup_day + dt.timedelta(days=int(self.rng.random() * _SETUP_DAYS))
        return self.sim.at(day, 8 * _HOUR + self.rng.random() * 10 * _HOUR)

    def _during_history(self) -> str:
        sim = self.sim
        return sim.at(sim.start + dt.timedelta(days=int(self.rng.random() * sim.cfg.days)), 10 * _HOUR)

    def _customers(self) -> tuple[list[int], list[int]]:
        """Shoppers (individuals) and business customers (mostly invoiced); 3 % archived."""
        rng, individuals, businesses = self.rng, [], []
        for k in range(1, self.sim.scale.customers + 1):
            last, city = rng.choice(_LAST), rng.choice(_CITIES)
            business = rng.random() < 0.1
            if business:
                name = f"{rng.choice(_TRADES)} {last}"
                email = f"info@{_slug(name)}.example"
            else:
                first = rng.choice(_FIRST)
                name, email = f"{first} {last}", f"{_slug(first)}.{_slug(last)}@example.com"
            active = rng.random() >= 0.03
            created = self._before_history()
            pid = self._partner(name, is_company=business, email=email, city=city, ref=f"C{k:05d}",
                                customer=1 + int(rng.random() * 30), active=active, created=created,
                                written=created if active else self._during_history())
            (businesses if business else individuals).append(pid)
        return individuals, businesses

    def _vendors(self) -> list[_Vendor]:
        """Vendor k serves department k mod 5; two more vendors are archived and unused."""
        rng, vendors = self.rng, []
        count = self.sim.scale.vendors
        for k in range(count + 2):
            place = _PLACES[k % len(_PLACES)] + (f" {k // len(_PLACES) + 1}" if k >= len(_PLACES) else "")
            name = f"{place} {_DEPARTMENTS[k % len(_DEPARTMENTS)].trade} {_LEGAL[k % len(_LEGAL)]}"
            active = k < count
            created = self._before_history() if active else self.setup
            pid = self._partner(name, is_company=True, email=f"orders@{_slug(place)}.example",
                                city=rng.choice(_CITIES), ref=f"V{k + 1:04d}", supplier=1 + int(rng.random() * 50),
                                active=active, created=created, written=created if active else self._before_history())
            if active:
                vendors.append(_Vendor(pid, 1 + int(rng.random() * 3)))
        return vendors

    # -- products

    def _products(self) -> list[_Item]:
        subs, extra_categories = self._categories()
        planned = self._plan_goods(subs) + self._plan_extras(extra_categories)
        items = [item for item, _record in planned]
        self._plan_archives(items)
        self.costs = costs = _Costs(items, self.rng, self.sim.start, self.sim.end, self.sim.clock)
        for item, record in planned:
            archived = item.archive_day is not None
            record["standard_price"] = costs.final(item)
            record["active"] = not archived
            written = costs.last_change(item)
            if archived:
                written = self.sim.at(item.archive_day, 7 * _HOUR) if item.archive_day >= self.sim.start \
                    else self._before_history()
            self.add("product.product", record, written=written)
        return items

    def _category(self, name: str, parent: Record | None) -> Record:
        record = {"name": name, "complete_name": f"{parent['complete_name']} / {name}" if parent else name,
                  "parent_id": parent["id"] if parent else False}
        cid = self.add("product.category", record)
        record["parent_path"] = f"{parent['parent_path'] if parent else ''}{cid}/"
        return record

    def _categories(self) -> tuple[list[tuple[int, _Sub, int, list[str]]], list[int]]:
        """All / department / sub-category. Returns (department index, sub, category id, name pool)
        per sub-category, and the category ids of the extras."""
        root = self._category("All", None)
        subs = []
        for d, dept in enumerate(_DEPARTMENTS):
            parent = self._category(dept.name, root)
            subs += [(d, sub, self._category(sub.name, parent)["id"], self._name_pool(dept, sub)) for sub in dept.subs]
        extras = [self._category(leaf, self._category(top, root))["id"] for (top, leaf), *_rest in _EXTRAS]
        return subs, extras

    def _plan_goods(self, subs: list[tuple[int, _Sub, int, list[str]]]) -> list[tuple[_Item, Record]]:
        """Branded goods spread over the sub-categories; popularity follows a Zipf-like law."""
        rng = self.rng
        count = self.sim.scale.products - _EXTRA_COUNT
        shares = [_DEPARTMENTS[d].share / len(_DEPARTMENTS[d].subs) for d, *_rest in subs]
        ranks = list(range(count))
        rng.shuffle(ranks)
        planned = []
        for rank, (d, sub, categ, names) in zip(ranks, rng.choices(subs, weights=shares, k=count)):
            incl = sub.low * (sub.high / sub.low) ** rng.random()
            price = round((math.floor(incl) + rng.choice(_PRICE_ENDINGS)) / (1 + sub.vat), 2)
            cost = round(price * (0.45 + 0.3 * rng.random()), 2)
            code = "".join(c for c in sub.name if c.isalpha())[:3].upper()
            planned.append(self._plan_item(len(planned), names.pop(), code, categ, price, cost, sub.vat, _STORABLE,
                                           d, 1 / (rank + 10) ** 0.9, rng.choice(_DEPARTMENTS[d].packs)))
        return planned

    def _name_pool(self, dept: _Dept, sub: _Sub) -> list[str]:
        pool = [f"{brand} {qualifier}{base} {size}" for brand, qualifier, base, size
                in itertools.product(dept.brands, dept.qualifiers, sub.bases, sub.sizes)]
        self.rng.shuffle(pool)
        return pool

    def _plan_extras(self, categories: list[int]) -> list[tuple[_Item, Record]]:
        """Store supplies (bags, in many baskets) and services (rarely sold)."""
        planned = []
        index = self.sim.scale.products - _EXTRA_COUNT
        top = 1 / 10 ** 0.9
        for (_path, code, kind, products), categ in zip(_EXTRAS, categories):
            for name, price, cost in products:
                weight = top * 2 if kind == _CONSU else top / 40
                planned.append(self._plan_item(index, name, code, categ, price, cost, 0.21, kind,
                                               len(_DEPARTMENTS), weight, 1))
                index += 1
        return planned

    def _plan_item(self, index: int, name: str, code: str, categ: int, price: float, cost: float, vat: float,
                   kind: str, dept: int, weight: float, pack: int) -> tuple[_Item, Record]:
        default_code = f"{code}-{index + 1:05d}"
        vendor = 0
        if kind == _STORABLE:
            own = self.vendors[dept % len(self.vendors)::len(_DEPARTMENTS)] or self.vendors
            vendor = self.rng.choice(own).id
        record = {"name": name, "default_code": default_code, "categ_id": categ, "list_price": price,
                  "barcode": _ean13(f"541{index + 1:09d}") if kind != _SERVICE else False,
                  "sale_ok": True, "purchase_ok": kind != _SERVICE, "available_in_pos": True,
                  **_product_type(kind, self.sim.version)}
        item = _Item(index, index + 1, f"[{default_code}] {name}", price, vat, kind, vendor, pack, weight, cost)
        return item, record

    def _plan_archives(self, items: list[_Item]) -> None:
        """2 % of goods get archived during history (popular ones: they sold before); 1 % before it."""
        rng, sim = self.rng, self.sim
        goods = [it for it in items if it.storable]
        popular = sorted(goods, key=lambda it: -it.weight)[: len(goods) // 2]
        if sim.cfg.days >= 3:
            for k, item in enumerate(rng.sample(popular, max(1, len(goods) // 50))):
                item.archive_day = sim.start + dt.timedelta(days=sim.cfg.days * (1 + k % 2) // 3)
        unsold = [it for it in goods if it.archive_day is None]
        for item in rng.sample(unsold, max(1, len(goods) // 100)):
            item.archive_day, item.active = self.setup_day, False

    # -- locations and shops

    def _locations(self) -> None:
        loc = self._location
        self.physical_loc = loc("Physical Locations", "Physical Locations", "view", False)
        partners = loc("Partners", "Partners", "view", False)
        self.vendors_loc = loc("Vendors", "Partners/Vendors", "supplier", partners)
        self.customers_loc = loc("Customers", "Partners/Customers", "customer", partners)
        virtual = loc("Virtual Locations", "Virtual Locations", "view", False)
        self.inventory_loc = loc("Inventory adjustment", "Virtual Locations/Inventory adjustment", "inventory",
                                 virtual)
        self.scrap_loc = loc("Scrap", "Virtual Locations/Scrap", "inventory", virtual, scrap=True)
        loc("Production", "Virtual Locations/Production", "production", virtual)

    def _location(self, name: str, complete: str, usage: str, parent: int | bool, warehouse: int | bool = False,
                  scrap: bool = False) -> int:
        return self.add("stock.location", {"name": name, "complete_name": complete, "usage": usage,
                                           "location_id": parent, "warehouse_id": warehouse,
                                           "scrap_location": scrap, "active": True})

    def _plan_stores(self) -> list[_Store]:
        """Flagship (7/7, 08-22), station night shop (7/7, 07-00:30), high-street shops (Mon-Sat)."""
        rng, count = self.rng, self.sim.scale.stores
        stores = []
        for k in range(count):
            name, code = _SITES[k % len(_SITES)]
            if k >= len(_SITES):
                name, code = f"{name} {k // len(_SITES) + 1}", f"{code}{k // len(_SITES) + 1}"
            if k == 0:
                store = _Store(k, name, code, 1.6, frozenset(range(7)), 8 * _HOUR, 22 * _HOUR, False)
            elif k == 1:
                store = _Store(k, name, code, 0.9, frozenset(range(7)), 7 * _HOUR, 23 * _HOUR + 1800, True)
            else:
                store = _Store(k, name, code, 0.6 + 0.6 * rng.random(), frozenset(range(6)), 8 * _HOUR + 1800,
                               20 * _HOUR, False)
            stores.append(store)
        mean = sum(s.size for s in stores) / count
        for store in stores:
            store.size /= mean
            store.slots = list(range(store.open_s, store.close_s, 900))
            store.slot_cum = list(itertools.accumulate(_HOURLY[s // _HOUR] for s in store.slots))
        return stores

    def _shop(self, store: _Store) -> None:
        """Warehouse, locations, operation types and POS config of one shop; its assortment."""
        warehouse = {"name": store.name, "code": store.code, "active": True}
        wh = self.add("stock.warehouse", warehouse)
        view = self._location(store.code, store.code, "view", self.physical_loc, wh)
        store.stock_loc = self._location("Stock", f"{store.code}/Stock", "internal", view, wh)
        warehouse.update(lot_stock_id=store.stock_loc, view_location_id=view)
        store.type_in = self._picking_type("Receipts", "incoming", wh, self.vendors_loc, store.stock_loc)
        store.type_pos = self._picking_type("PoS Orders", "outgoing", wh, store.stock_loc, self.customers_loc)
        store.type_int = self._picking_type("Internal Transfers", "internal", wh, store.stock_loc, store.stock_loc)
        store.config_id = self.add("pos.config", {"name": store.name, "picking_type_id": store.type_pos,
                                                  "warehouse_id": wh, "company_id": 1, "active": True})
        self._assort(store)

    def _picking_type(self, name: str, code: str, wh: int, src: int, dest: int) -> int:
        return self.add("stock.picking.type", {"name": name, "code": code, "warehouse_id": wh,
                                               "default_location_src_id": src, "default_location_dest_id": dest,
                                               "active": True})

    def _assort(self, store: _Store) -> None:
        """What the shop carries, how fast it sells, its reorder levels and opening stock."""
        rng, scale = self.rng, self.sim.scale
        share = 1.0 if store.index == 0 else 0.55 if store.night else 0.75 + 0.2 * rng.random()
        store.carries = [it.active and (not it.storable or rng.random() < share) for it in self.items]
        store.catalog = [it for it in self.items if store.carries[it.index]]
        store.cum = list(itertools.accumulate(it.weight for it in store.catalog))
        units_per_day = scale.orders_per_store_day * store.size * scale.lines_per_order * 1.45
        cover = self.review_cycle() * 7 / 5 + 3 + 3          # review cycle + longest lead time + safety
        n = len(self.items)
        store.on_hand, store.on_order, store.reorder = [0] * n, [0] * n, [0] * n
        for item in store.catalog:
            if item.storable:
                level = math.ceil(units_per_day * item.weight / store.cum[-1] * cover) + 1
                store.reorder[item.index] = level
                store.on_hand[item.index] = 2 * level + 2 - int(rng.random() * level)
                store.by_vendor.setdefault(item.vendor, []).append(item)



def _product_type(kind: str, version: int) -> Record:
    if version <= 17:
        odoo = {_STORABLE: "product", _CONSU: "consu", _SERVICE: "service"}[kind]
        return {"detailed_type": odoo, "type": odoo}
    return {"type": "service" if kind == _SERVICE else "consu", "is_storable": kind == _STORABLE}


def _ean13(first12: str) -> str:
    total = sum(int(c) * (3 if k % 2 else 1) for k, c in enumerate(first12))
    return first12 + str((10 - total % 10) % 10)


def _slug(text: str) -> str:
    plain = text.lower().replace("é", "e").replace("è", "e")
    return "".join(c if c.isalnum() else "-" for c in plain).strip("-")


# --------------------------------------------------------------------------- costs

class _Costs:
    """Standard prices over time, planned up front so product records carry their final cost.

    A change takes effect at 00:00 local on its day, so the price in effect on a business
    date holds all day long: exactly what the ETL's rule (the latest valuation layer up to
    the end of the day) reads back.
    """

    def __init__(self, items: list[_Item], rng: random.Random, start: dt.date, end: dt.date, clock: _Clock):
        self.items = items
        self.clock = clock
        self.current = [it.base_cost for it in items]
        self.changes: defaultdict[dt.date, list[tuple[_Item, float, float]]] = defaultdict(list)
        self._history: dict[int, tuple[list[dt.date], list[float]]] = {}
        self.today: dt.date | None = None
        self._other: tuple[dt.date | None, list[float]] = (None, [])
        span = (end - start).days
        for item in items:
            if item.storable and item.archive_day is None and span:
                self._plan(item, rng, start, span)

    def _plan(self, item: _Item, rng: random.Random, start: dt.date, span: int) -> None:
        count = min(_poisson(rng, _COST_CHANGES_PER_YEAR * span / 365), span)
        if not count:
            return
        days = [start + dt.timedelta(days=offset) for offset in sorted(rng.sample(range(1, span + 1), count))]
        prices, price = [], item.base_cost
        for day in days:
            new = _new_cost(rng, price, item.price)
            self.changes[day].append((item, price, new))
            prices.append(new)
            price = new
        self._history[item.index] = (days, prices)

    def start_day(self, day: dt.date) -> list[tuple[_Item, float, float]]:
        """Apply the day's changes; returns them as (item, old, new)."""
        changes = self.changes.get(day, [])
        for item, _old, new in changes:
            self.current[item.index] = new
        self.today = day
        return changes

    def prices(self, day: dt.date) -> list[float]:
        """Every item's cost in effect on ``day``, by item index."""
        if day == self.today:
            return self.current
        if self._other[0] != day:
            self._other = (day, [self.on(it, day) for it in self.items])
        return self._other[1]

    def on(self, item: _Item, day: dt.date) -> float:
        days, prices = self._history.get(item.index, ((), ()))
        k = bisect.bisect_right(days, day)
        return prices[k - 1] if k else item.base_cost

    def final(self, item: _Item) -> float:
        history = self._history.get(item.index)
        return history[1][-1] if history else item.base_cost

    def last_change(self, item: _Item) -> str | None:
        history = self._history.get(item.index)
        return self.clock.at(history[0][-1], 0) if history else None


def _outcome(rng: random.Random, count: int, odds: tuple[tuple[str, float], ...], usual: str) -> str:
    """A random outcome by its odds, ``usual`` otherwise. Documents number 1, 3, 5... take
    each rare outcome once in turn, so that even a tiny history shows every case."""
    if count % 2 and count // 2 < len(odds):
        return odds[count // 2][0]
    r = rng.random()
    for outcome, p in odds:
        if r < p:
            return outcome
        r -= p
    return usual


def _floor_exp_rate(mean: float) -> float:
    """The rate of an exponential whose integer part has this mean (a geometric count)."""
    return math.log(1 + 1 / max(mean, 0.01))


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _new_cost(rng: random.Random, old: float, list_price: float) -> float:
    new = round(old * (1 + rng.gauss(0.02, 0.05)), 2)
    new = min(max(new, 0.01), round(list_price * 0.92, 2))
    if new == old:
        new = round(old - 0.01, 2) if old > 0.01 else 0.02
    return new


# --------------------------------------------------------------------------- stock

class _Stock:
    """Pickings and moves. Done moves feed the quants and, in 16-18, the valuation layers."""

    def __init__(self, sim: _Simulation):
        self.sim = sim
        self.books = sim.books
        self.company = sim.company
        self.qty_field = "quantity_done" if sim.version == 16 else "quantity"
        self.reserved_shows = sim.version >= 17      # 17+: a ready move's `quantity` is what it reserved
        self.valued = sim.version <= 18
        self.store_of = {store.stock_loc: store for store in self.company.stores}
        self.tally: dict[tuple[int, int], list] = {}   # (product, location) -> [qty, first in, last move]

    def transfer(self, *, name: str, ptype: int, src: int, dest: int, lines: Iterable[tuple], when: str,
                 created: str, cost_day: dt.date, origin: str | bool = False, partner: int | bool = False,
                 state: str = "done", scheduled: str | None = None, sync: bool = True) -> int:
        """One picking; ``lines`` are (item, demand, done qty, purchase line id, unit price)."""
        done = state == "done"
        picking = self.books.add("stock.picking", {
            "name": name, "origin": origin, "picking_type_id": ptype, "partner_id": partner,
            "location_id": src, "location_dest_id": dest, "state": state,
            "scheduled_date": scheduled or when, "date_done": when if done else False,
            "create_date": created, "write_date": when})
        for item, demand, qty, pol, price in lines:
            self.move(item, qty, src, dest, ref=name, date=when if done else scheduled or when, created=created,
                      written=when, demand=demand, state=state, origin=origin, picking=picking, ptype=ptype,
                      pol=pol, price=price, cost_day=cost_day, sync=sync)
        return picking

    def move(self, item: _Item, qty: int, src: int, dest: int, *, ref: str, date: str, cost_day: dt.date,
             created: str | None = None, written: str | None = None, demand: int | None = None,
             state: str = "done", name: str | None = None, origin: str | bool = False, picking: int | bool = False,
             ptype: int | bool = False, pol: int | bool = False, price: float = 0.0, inventory: bool = False,
             scrap: bool = False, sync: bool = True) -> int:
        """One stock.move; ``qty`` is the done quantity (ignored unless ``state`` is done)."""
        demand = qty if demand is None else demand
        done = state == "done"
        shown = qty if done else demand if state == "assigned" and self.reserved_shows else 0
        move = self.books.add("stock.move", {
            "name": name or item.label, "reference": ref, "origin": origin, "product_id": item.id,
            "product_uom_qty": float(demand), self.qty_field: float(shown), "location_id": src,
            "location_dest_id": dest, "state": state, "date": date, "picking_id": picking,
            "picking_type_id": ptype, "purchase_line_id": pol, "price_unit": price, "scrapped": scrap,
            "is_inventory": inventory, "company_id": 1, "create_date": created or date, "write_date": written or date})
        if done:
            self._book(item, qty, src, dest, date, move, ref, cost_day, sync)
        return move

    def _book(self, item: _Item, qty: int, src: int, dest: int, when: str, move: int, ref: str,
              cost_day: dt.date, sync: bool) -> None:
        out_of, into = self.store_of.get(src), self.store_of.get(dest)
        if out_of:
            self._count(item.id, src, -qty, when)
            if sync:
                out_of.on_hand[item.index] -= qty
        if into:
            self._count(item.id, dest, qty, when)
            if sync:
                into.on_hand[item.index] += qty
        if self.valued and (out_of is None) != (into is None):
            signed = qty if into else -qty
            cost = self.sim.costs.prices(cost_day)[item.index]
            self.books.add("stock.valuation.layer", {
                "product_id": item.id, "stock_move_id": move, "company_id": 1,
                "description": f"{ref} - {item.label}", "quantity": float(signed), "unit_cost": cost,
                "value": round(signed * cost, 2), "create_date": when, "write_date": when})

    def _count(self, product: int, location: int, qty: int, when: str) -> None:
        entry = self.tally.get((product, location))
        if entry is None:
            self.tally[product, location] = [qty, when, when]
            return
        entry[0] += qty
        entry[1] = min(entry[1], when)
        entry[2] = max(entry[2], when)

    def revalue(self, day: dt.date, changes: list[tuple[_Item, float, float]]) -> None:
        """Standard-price changes, as Odoo 16-18 record them: a layer without quantity."""
        if not (self.valued and changes):
            return
        stamp = self.sim.at(day, 0)
        for item, old, new in changes:
            self.books.add("stock.valuation.layer", {
                "product_id": item.id, "stock_move_id": False, "company_id": 1,
                "description": f"Product value manually modified (from {old:.2f} to {new:.2f})",
                "quantity": 0.0, "unit_cost": new, "value": 0.0, "create_date": stamp, "write_date": stamp})

    def opening_inventory(self, day: dt.date) -> None:
        stamp = self.sim.at(day, 6 * _HOUR)
        for store in self.company.stores:
            for item in store.catalog:
                if item.storable and store.on_hand[item.index]:
                    self.move(item, store.on_hand[item.index], self.company.inventory_loc, store.stock_loc,
                              ref=_ADJUSTMENT, name=_ADJUSTMENT, date=stamp, cost_day=day, inventory=True,
                              price=self.sim.costs.current[item.index], sync=False)

    def adjust(self, store: _Store, item: _Item, delta: int, day: dt.date, seconds: float) -> None:
        """An inventory adjustment: the counted quantity differs by ``delta``."""
        inventory = self.company.inventory_loc
        src, dest = (inventory, store.stock_loc) if delta > 0 else (store.stock_loc, inventory)
        self.move(item, abs(delta), src, dest, ref=_ADJUSTMENT, name=_ADJUSTMENT, date=self.sim.at(day, seconds),
                  cost_day=day, inventory=True, price=self.sim.costs.current[item.index])

    def scrap(self, store: _Store, item: _Item, qty: int, day: dt.date, seconds: float) -> None:
        name = f"SP/{self.books.seq('SP'):05d}"
        self.move(item, qty, store.stock_loc, self.company.scrap_loc, ref=name, name=name, origin=name,
                  date=self.sim.at(day, seconds), cost_day=day, scrap=True,
                  price=self.sim.costs.current[item.index])

    def picking_name(self, store: _Store, kind: str) -> str:
        return f"{store.code}/{kind}/{self.books.seq((store.code, kind)):05d}"

    def emit_quants(self) -> None:
        """One quant per (product, internal location) holding stock: the sum of its done moves."""
        for (product, location), (qty, first, last) in sorted(self.tally.items(), key=lambda kv: kv[0][::-1]):
            if qty:
                self.books.add("stock.quant", {
                    "product_id": product, "location_id": location, "company_id": 1, "quantity": float(qty),
                    "reserved_quantity": 0.0, "in_date": first, "create_date": first, "write_date": last})


# --------------------------------------------------------------------------- point of sale

@dataclass(eq=False, slots=True)
class _Run:
    """One POS session being played."""

    store: _Store
    day: dt.date
    id: int
    number: int
    name: str
    closing: str | None                                   # stop_at of a closed session
    seq: int = 0
    out: dict[_Item, int] = field(default_factory=dict)   # units delivered, to move at closing
    back: dict[_Item, int] = field(default_factory=dict)  # units returned


class _Pos:
    """Sessions, orders, refunds, invoiced orders and the stock moves of closing."""

    def __init__(self, sim: _Simulation):
        self.sim = sim
        self.rng = sim.rng
        self.books = sim.books
        self.customers = sim.company.individuals
        self.sessions = 0
        self.extra_lines = _floor_exp_rate(sim.scale.lines_per_order - 1)
        self.invoiced_state = "invoiced" if sim.version <= 18 else None     # 19: invoiced orders stay done

    def play(self, day: dt.date) -> None:
        last = day == self.sim.end
        for k, store in enumerate(self.sim.open_stores(day)):
            state = _OPEN_STATES[k] if last and k < len(_OPEN_STATES) else "closed"
            self._session(store, day, state, night=store.night and not last)

    def _session(self, store: _Store, day: dt.date, state: str, night: bool) -> None:
        sim, rng = self.sim, self.rng
        self.sessions += 1
        name = f"POS/{self.sessions:05d}"
        opened = sim.at(day, store.open_s - 900 + rng.random() * 600)
        stop_s = store.close_s + (_HOUR if night else 0) + 600 + int(rng.random() * 1800)
        closing = sim.at(day, stop_s) if state == "closed" else None
        sid = self.books.add("pos.session", {
            "name": name, "config_id": store.config_id, "user_id": store.cashier, "state": state,
            "start_at": opened, "stop_at": closing or False, "create_date": opened, "write_date": closing or opened})
        run = _Run(store, day, sid, self.sessions, name, closing)
        for seconds, kind in self._plan(store, day, closing is not None, night):
            if kind == "refund":
                self._refund(run, seconds)
            else:
                self._sale(run, seconds, kind)
        if closing:
            self._close(run, stop_s)

    def _plan(self, store: _Store, day: dt.date, closed: bool, night: bool) -> list[tuple[int, str]]:
        """(seconds after local midnight, kind) of the session's orders, in time order."""
        rng, scale = self.rng, self.sim.scale
        sales = round(scale.orders_per_store_day * store.size * _WEEKDAY[day.weekday()] * (0.85 + 0.3 * rng.random()))
        kinds = ["sale"] * sales + ["refund"] * int(sales * _REFUND_RATE + rng.random())
        kinds += [] if closed else ["draft"] * (2 + int(rng.random() * 2))
        rng.shuffle(kinds)
        starts = rng.choices(store.slots, cum_weights=store.slot_cum, k=len(kinds))
        times = sorted(min(s + int(rng.random() * 900), store.close_s - 1) for s in starts)
        plan = list(zip(times, kinds))
        if night:   # around midnight: at least one order before it and one after (next local date)
            late = [23 * _HOUR + 1800 + int(rng.random() * 1800), _DAY_S + int(rng.random() * 1800)]
            late += [23 * _HOUR + 1800 + int(rng.random() * _HOUR) for _ in range(int(rng.random() * 4))]
            plan += [(s, "sale") for s in sorted(late)]
        return plan

    def _sale(self, run: _Run, seconds: int, kind: str) -> None:
        rng = self.rng
        if kind == "draft":
            state = "draft"
        elif rng.random() < _CANCEL_RATE:
            state = "cancel"
        else:
            state = "done" if run.closing else "paid"
        counted = state in ("done", "paid")
        partner = False
        if self.customers and rng.random() < _CUSTOMER_RATE:
            partner = self.customers[int(rng.random() * len(self.customers))]
        basket = self._basket(run.store, 1 + min(int(rng.expovariate(self.extra_lines)), 29), counted)
        if not basket:
            return
        order, line_ids = self._order(run, seconds, state, partner, basket)
        if counted and partner and rng.random() < _INVOICE_RATE:
            self._invoice(run, seconds, order, basket)
        elif counted:
            self._keep_refundable(run, partner, basket, line_ids)

    def _basket(self, store: _Store, size: int, reserve: bool) -> list[tuple[_Item, int, float, int | bool]]:
        """(item, qty, discount, refunded line) picked by popularity; never more than the shelf holds."""
        rng, on_hand, basket = self.rng, store.on_hand, []
        for item in rng.choices(store.catalog, cum_weights=store.cum, k=size):
            qty = 1 if item.kind == _SERVICE else _QTY[int(rng.random() * len(_QTY))]
            if item.kind == _STORABLE:
                have = on_hand[item.index]
                if have < qty:
                    if have <= 0:
                        continue
                    qty = have
                if reserve:
                    on_hand[item.index] = have - qty
            discount = _DISCOUNTS[int(rng.random() * len(_DISCOUNTS))] if rng.random() < _DISCOUNT_RATE else 0.0
            basket.append((item, qty, discount, False))
        return basket

    def _order(self, run: _Run, seconds: int, state: str, partner: int | bool,
               basket: list[tuple[_Item, int, float, int | bool]]) -> tuple[Record, list[int]]:
        store, books = run.store, self.books
        store.order_seq += 1
        run.seq += 1
        stamp = self.sim.at(run.day, seconds)
        counted = state in ("done", "paid")
        costed = counted and run.closing is not None
        written = run.closing if costed else stamp
        order = {
            "name": f"{store.name}/{store.order_seq:04d}", "pos_reference": f"Order {run.number:05d}-001-{run.seq:04d}",
            "session_id": run.id, "config_id": store.config_id, "company_id": 1, "partner_id": partner,
            "user_id": store.cashier, "date_order": stamp, "state": state, "amount_tax": 0.0, "amount_total": 0.0,
            "amount_paid": 0.0, "amount_return": 0.0, "account_move": False, "is_invoiced": False,
            "create_date": stamp, "write_date": written}
        oid = books.add("pos.order", order)
        costs = self.sim.costs.prices(run.day if seconds < _DAY_S else run.day + _ONE_DAY)
        total = tax = 0.0
        line_ids = []
        for item, qty, discount, refunded in basket:
            subtotal = round(qty * item.price * (1 - discount / 100), 2)
            vat = round(subtotal * item.vat, 2)
            store.line_seq += 1
            line_ids.append(books.add("pos.order.line", {
                "name": f"{store.name}/{store.line_seq:04d}", "full_product_name": item.label, "order_id": oid,
                "product_id": item.id, "qty": float(qty), "price_unit": item.price, "discount": discount,
                "price_subtotal": subtotal, "price_subtotal_incl": round(subtotal + vat, 2),
                "total_cost": round(qty * costs[item.index], 2) if costed else 0.0,
                "is_total_cost_computed": costed, "refunded_orderline_id": refunded,
                "create_date": stamp, "write_date": written}))
            total += subtotal + vat
            tax += vat
            if counted and item.kind == _STORABLE:
                moved = run.out if qty > 0 else run.back
                moved[item] = moved.get(item, 0) + abs(qty)
        order["amount_total"], order["amount_tax"] = round(total, 2), round(tax, 2)
        if counted:
            order["amount_paid"] = order["amount_total"]
            order["amount_return"] = self._change(order["amount_total"])
        return order, line_ids

    def _change(self, total: float) -> float:
        """Cash given back when a customer pays with a banknote."""
        if total <= 0 or self.rng.random() >= 0.3:
            return 0.0
        note = next((n for n in (5, 10, 20, 50, 100, 200) if n >= total), total)
        return round(note - total, 2)

    def _invoice(self, run: _Run, seconds: int, order: Record, basket: list[tuple]) -> None:
        day = run.day if seconds < _DAY_S else run.day + _ONE_DAY
        order["account_move"] = self.sim.invoices.pos_invoice(order, basket, day, self.sim.at(run.day, seconds + 45))
        order["is_invoiced"] = True
        order["state"] = self.invoiced_state or order["state"]

    def _keep_refundable(self, run: _Run, partner: int | bool, basket: list[tuple], line_ids: list[int]) -> None:
        rng, ordinal = self.rng, run.day.toordinal()
        for (item, qty, discount, _refunded), line_id in zip(basket, line_ids):
            if rng.random() < 0.03:
                run.store.refundable.append((ordinal, line_id, item, qty, discount, partner))

    def _refund(self, run: _Run, seconds: int) -> None:
        """A customer brings back (part of) a line bought in this shop in the last two weeks."""
        store, rng = run.store, self.rng
        pool, horizon = store.refundable, run.day.toordinal() - _REFUND_WINDOW
        while pool and pool[0][0] < horizon:
            pool.pop(0)
        if not pool:
            return
        _ordinal, line_id, item, qty, discount, partner = pool.pop(int(rng.random() * len(pool)))
        if not item.active:
            return
        back = qty if rng.random() < 0.7 else 1
        if item.kind == _STORABLE:
            store.on_hand[item.index] += back
        self._order(run, seconds, "done" if run.closing else "paid", partner, [(item, -back, discount, line_id)])

    def _close(self, run: _Run, stop_s: int) -> None:
        """Closing: one delivery move per product sold, one return move per product brought back."""
        store, sim = run.store, self.sim
        cost_day = run.day + _ONE_DAY if stop_s >= _DAY_S else run.day
        costs = sim.costs.prices(cost_day)
        customers = sim.company.customers_loc
        for moved, src, dest in ((run.out, store.stock_loc, customers), (run.back, customers, store.stock_loc)):
            if moved:
                lines = [(item, qty, qty, False, costs[item.index])
                         for item, qty in sorted(moved.items(), key=lambda kv: kv[0].index)]
                sim.stock.transfer(name=sim.stock.picking_name(store, "POS"), ptype=store.type_pos, src=src,
                                   dest=dest, lines=lines, when=run.closing, created=run.closing, cost_day=cost_day,
                                   origin=run.name, sync=False)


# --------------------------------------------------------------------------- invoicing

_BALANCE_SIGN = {"out_invoice": -1, "out_refund": 1, "in_invoice": 1}     # of product lines
_AMOUNT_SIGN = {"out_invoice": 1, "out_refund": -1, "in_invoice": -1}     # of the *_signed amounts

# (product id, label, quantity, unit price, discount %, VAT rate)
InvoiceLine = tuple[int, str, float, float, float, float]


def _account_move(move_type: str, name: str, state: str, partner: int, date: str, spec: list[InvoiceLine],
                  origin: str | bool = False, reversed_id: int | bool = False) -> tuple[Record, list[Record]]:
    """An invoice-like move and its journal items (product, tax and payment-term lines), without ids."""
    sign = _BALANCE_SIGN[move_type]
    head = {"move_type": move_type, "parent_state": state, "date": date, "partner_id": partner, "company_id": 1}
    lines, taxes, untaxed = [], {}, 0.0
    for product, label, qty, price, discount, rate in spec:
        subtotal = round(qty * price * (1 - discount / 100), 2)
        vat = round(subtotal * rate, 2)
        taxes[rate] = taxes.get(rate, 0.0) + vat
        untaxed += subtotal
        lines.append(_journal_item(head, label, product, "product", qty, price, discount, subtotal,
                                   round(subtotal + vat, 2), sign * subtotal))
    for rate, vat in taxes.items():
        lines.append(_journal_item(head, f"VAT {rate:.0%}", False, "tax", 0, 0.0, 0.0, 0.0, 0.0, sign * round(vat, 2)))
    untaxed, tax = round(untaxed, 2), round(sum(taxes.values()), 2)
    total = round(untaxed + tax, 2)
    lines.append(_journal_item(head, name, False, "payment_term", 0, 0.0, 0.0, 0.0, 0.0, -sign * total))
    signed = _AMOUNT_SIGN[move_type]
    move = {"name": name, "move_type": move_type, "state": state, "partner_id": partner, "company_id": 1,
            "currency_id": 1, "date": date, "invoice_date": date, "invoice_origin": origin,
            "amount_untaxed": untaxed, "amount_tax": tax, "amount_total": total,
            "amount_untaxed_signed": signed * untaxed, "amount_total_signed": signed * total,
            "reversed_entry_id": reversed_id}
    return move, lines


def _journal_item(head: Record, name: str, product: int | bool, display: str, qty: float, price: float,
                  discount: float, subtotal: float, total: float, balance: float) -> Record:
    return {**head, "name": name, "product_id": product, "display_type": display, "quantity": float(qty),
            "price_unit": price, "discount": discount, "price_subtotal": subtotal, "price_total": total,
            "balance": balance, "debit": balance if balance > 0 else 0.0, "credit": -balance if balance < 0 else 0.0}


class _Invoices:
    """Customer invoices and credit notes (weekdays), invoices of POS orders, vendor bills."""

    def __init__(self, sim: _Simulation):
        self.sim = sim
        self.rng = sim.rng
        self.books = sim.books
        self.recent: list[tuple[int, int, int, list[InvoiceLine]]] = []   # posted: (ordinal, id, partner, spec)
        self.issued = 0
        self.extra_lines = _floor_exp_rate(_INVOICE_LINES - 1)

    def play(self, day: dt.date) -> None:
        rng = self.rng
        count = round(self.sim.scale.invoices_per_day * (0.8 + 0.4 * rng.random()))
        for _ in range(count):
            self._customer_invoice(day)
        for _ in range(max(int(count * 0.05 + rng.random()), day.weekday() == 4)):   # Fridays: at least one
            self._credit_note(day)

    def _customer_invoice(self, day: dt.date) -> None:
        sim, rng, company = self.sim, self.rng, self.sim.company
        partner = self._customer()
        discount = rng.choice((5.0, 10.0)) if rng.random() < 0.2 else 0.0
        size = 1 + min(int(rng.expovariate(self.extra_lines)), 14)
        items = rng.choices(company.sellable, cum_weights=company.sellable_cum, k=size)
        spec = [(it.id, it.label, 1 if it.kind == _SERVICE else rng.choice(_B2B_QTY), it.price, discount, it.vat)
                for it in items]
        created = sim.at(day, 8 * _HOUR + rng.random() * 9 * _HOUR)
        state, changed = self._fate(day, created)
        touched = changed
        if state == "posted" and rng.random() < 0.4:     # paid later: the move is written again
            touched = self._later(day, 5, 30) or changed
        move = self._create("out_invoice", partner, day, spec, state, created, changed, touched)
        if state == "posted":
            self.recent.append((day.toordinal(), move, partner, spec))

    def _customer(self) -> int:
        company, rng = self.sim.company, self.rng
        pool = company.businesses if company.businesses and rng.random() < 0.7 else company.individuals
        return pool[int(rng.random() * len(pool))]

    def _fate(self, day: dt.date, created: str) -> tuple[str, str]:
        """(state, when it was last changed): most posted at once, some the next day, a few not."""
        self.issued += 1
        fate = _outcome(self.rng, self.issued, _INVOICE_FATES, "posted")
        if fate == "cancel":
            return "cancel", self._later(day, 1, 3) or created
        if fate == "next day":
            posted = self._later(day, 1, 1)
            return ("posted", posted) if posted else ("draft", created)
        return fate, created

    def _later(self, day: dt.date, low: int, high: int) -> str | None:
        """A time ``low``..``high`` days after ``day``, unless that is after the last day."""
        later = day + dt.timedelta(days=low + int(self.rng.random() * (high - low + 1)))
        return self.sim.at(later, 9 * _HOUR + self.rng.random() * 8 * _HOUR) if later <= self.sim.end else None

    def _credit_note(self, day: dt.date) -> None:
        """Reverse a recent posted invoice, fully or one line partly."""
        rng, recent = self.rng, self.recent
        horizon = day.toordinal() - 45
        while recent and recent[0][0] < horizon:
            recent.pop(0)
        if not recent:
            return
        _ordinal, reversed_id, partner, spec = recent.pop(int(rng.random() * len(recent)))
        if rng.random() >= 0.4:
            product, label, qty, price, discount, rate = rng.choice(spec)
            spec = [(product, label, max(1, qty // 2), price, discount, rate)]
        created = self.sim.at(day, 9 * _HOUR + rng.random() * 8 * _HOUR)
        self._create("out_refund", partner, day, spec, "posted", created, created, reversed_id=reversed_id)

    def pos_invoice(self, order: Record, basket: list[tuple], day: dt.date, created: str) -> int:
        spec = [(it.id, it.label, qty, it.price, discount, it.vat) for it, qty, discount, _refunded in basket]
        return self._create("out_invoice", order["partner_id"], day, spec, "posted", created, created,
                            origin=order["name"])

    def vendor_bill(self, vendor: int, day: dt.date, created: str, origin: str, spec: list[InvoiceLine]) -> None:
        self._create("in_invoice", vendor, day, spec, "posted", created, created, origin=origin)

    def _create(self, move_type: str, partner: int, day: dt.date, spec: list[InvoiceLine], state: str,
                created: str, changed: str, touched: str | None = None, origin: str | bool = False,
                reversed_id: int | bool = False) -> int:
        name = "/" if state == "draft" else self._number(move_type, day)
        move, lines = _account_move(move_type, name, state, partner, day.isoformat(), spec, origin, reversed_id)
        move.update(create_date=created, write_date=touched or changed)
        move_id = self.books.add("account.move", move)
        for line in lines:
            line.update(move_id=move_id, create_date=created, write_date=changed)
            self.books.add("account.move.line", line)
        return move_id

    def _number(self, move_type: str, day: dt.date) -> str:
        if move_type == "in_invoice":
            return f"BILL/{day.year}/{day.month:02d}/{self.books.seq(('BILL', day.year, day.month)):04d}"
        prefix = "INV" if move_type == "out_invoice" else "RINV"
        return f"{prefix}/{day.year}/{self.books.seq((prefix, day.year)):05d}"


# --------------------------------------------------------------------------- purchasing

@dataclass(eq=False, slots=True)
class _Delivery:
    """How a confirmed purchase order gets delivered and billed (planned at confirmation)."""

    store: _Store
    vendor: _Vendor
    name: str
    approved: str
    lines: list[tuple[_Item, int, float, int]]    # item, ordered qty, unit price, purchase line id
    first: list[int]                              # received by the first receipt
    receipt: dt.date
    receipt_at: str
    backorder: dt.date | None                     # day the rest arrives (None: no rest, or cancelled)
    backorder_at: str | None
    cancelled: bool                               # the rest will never come
    bill: dt.date
    bill_at: str


class _Purchases:
    """Each weekday a slice of the (shop, vendor) pairs is reviewed; what fell below its
    reorder level is ordered. Receipts arrive after the vendor's lead time."""

    def __init__(self, sim: _Simulation):
        self.sim = sim
        self.rng = sim.rng
        self.books = sim.books
        company = sim.company
        self.pairs = [(store, vendor) for vendor in company.vendors for store in company.stores
                      if vendor.id in store.by_vendor]
        self.cycle = company.review_cycle()
        self.reviews = self.orders = 0

    def play(self, day: dt.date) -> None:
        slot = self.reviews % self.cycle
        self.reviews += 1
        for store, vendor in self.pairs[slot::self.cycle]:
            need = self._needs(store, vendor)
            if need:
                self._order(store, vendor, day, need)

    def _needs(self, store: _Store, vendor: _Vendor) -> list[tuple[_Item, int]]:
        need = []
        for item in store.by_vendor[vendor.id]:
            i = item.index
            level, position = store.reorder[i], store.on_hand[i] + store.on_order[i]
            if item.active and position <= level:
                need.append((item, -(-(2 * level + 2 - position) // item.pack) * item.pack))
        return need

    def _order(self, store: _Store, vendor: _Vendor, day: dt.date, need: list[tuple[_Item, int]]) -> None:
        sim, rng = self.sim, self.rng
        self.orders += 1
        state = _outcome(rng, self.orders, _PURCHASE_FATES, "purchase")
        ordered_s = 8.5 * _HOUR + rng.random() * 3 * _HOUR
        ordered = sim.at(day, ordered_s)
        name = f"P{self.books.seq('PO'):05d}"
        delivery = None
        if state == "purchase":
            delivery = self._plan(store, vendor, name, day, sim.at(day, ordered_s + 300 + rng.random() * 3600), need)
        written = self._later(day, ordered) if state == "cancel" else ordered
        lines = self._emit(store, vendor, name, state, day, ordered, written, delivery, need)
        if delivery:
            delivery.lines = lines
            self._schedule(delivery)

    def _later(self, day: dt.date, default: str) -> str:
        later = day + dt.timedelta(days=1 + int(self.rng.random() * 3))
        return self.sim.at(later, 10 * _HOUR) if later <= self.sim.end else default

    def _plan(self, store: _Store, vendor: _Vendor, name: str, day: dt.date, approved: str,
              need: list[tuple[_Item, int]]) -> _Delivery:
        rng, sim = self.rng, self.sim
        receipt = _not_sunday(day + dt.timedelta(days=vendor.lead))
        partial = rng.random() < 0.08
        first = [qty if not partial or rng.random() < 0.5 else int(qty * (0.3 + 0.6 * rng.random()))
                 for _item, qty in need]
        rest = any(qty > got for (_item, qty), got in zip(need, first))
        cancelled = rest and rng.random() < 0.3
        backorder = None                          # the day the rest comes, if it ever does
        if rest and not cancelled:
            backorder = _not_sunday(receipt + dt.timedelta(days=2 + int(rng.random() * 4)))
        bill = _weekday_on_or_after((backorder or receipt) + dt.timedelta(days=1 + int(rng.random() * 6)))
        return _Delivery(store, vendor, name, approved, [], first, receipt,
                         sim.at(receipt, 10 * _HOUR + rng.random() * 4 * _HOUR), backorder,
                         sim.at(backorder, 10 * _HOUR + rng.random() * 4 * _HOUR) if backorder else None,
                         cancelled, bill, sim.at(bill, 11 * _HOUR + rng.random() * 5 * _HOUR))

    def _emit(self, store: _Store, vendor: _Vendor, name: str, state: str, day: dt.date, ordered: str,
              written: str, delivery: _Delivery | None, need: list[tuple[_Item, int]]
              ) -> list[tuple[_Item, int, float, int]]:
        """The purchase order and its lines, in their state as of the last day."""
        received = self._received(delivery, [qty for _item, qty in need])
        billed = delivery is not None and delivery.bill <= self.sim.end
        if delivery:
            state = "done" if billed else "purchase"
            written = max(stamp for stamp in self._events(delivery) if stamp)
        planned_day = delivery.receipt if delivery else _not_sunday(day + dt.timedelta(days=vendor.lead))
        planned = self.sim.at(planned_day, 10 * _HOUR)
        po = {"name": name, "partner_id": vendor.id, "company_id": 1, "currency_id": 1,
              "picking_type_id": store.type_in, "state": state, "date_order": ordered,
              "date_approve": delivery.approved if delivery else False, "date_planned": planned,
              "invoice_status": "invoiced" if billed else "to invoice" if any(received) else "no",
              "create_date": ordered, "write_date": written}
        po_id = self.books.add("purchase.order", po)
        prices = self.sim.costs.current
        lines, untaxed, tax = [], 0.0, 0.0
        for (item, qty), got in zip(need, received):
            price = prices[item.index]
            subtotal = round(qty * price, 2)
            vat = round(subtotal * item.vat, 2)
            line_id = self.books.add("purchase.order.line", {
                "name": item.label, "order_id": po_id, "partner_id": vendor.id, "state": state,
                "display_type": False, "product_id": item.id, "product_qty": float(qty),
                "qty_received": float(got), "qty_invoiced": float(got) if billed else 0.0, "price_unit": price,
                "price_subtotal": subtotal, "price_total": round(subtotal + vat, 2), "date_planned": planned,
                "create_date": ordered, "write_date": written})
            lines.append((item, qty, price, line_id))
            untaxed += subtotal
            tax += vat
            if delivery:
                store.on_order[item.index] += qty
        po.update(amount_untaxed=round(untaxed, 2), amount_tax=round(tax, 2), amount_total=round(untaxed + tax, 2))
        return lines

    def _events(self, d: _Delivery) -> list[str | None]:
        end = self.sim.end
        return [d.approved, d.receipt_at if d.receipt <= end else None,
                d.backorder_at if d.backorder and d.backorder <= end else None, d.bill_at if d.bill <= end else None]

    def _received(self, d: _Delivery | None, ordered: list[int]) -> list[int]:
        """Quantities received by the last day."""
        end = self.sim.end
        if d is None or d.receipt > end:
            return [0] * len(ordered)
        return list(ordered) if d.backorder and d.backorder <= end else list(d.first)

    def _schedule(self, d: _Delivery) -> None:
        agenda, end = self.sim.agenda, self.sim.end
        if d.receipt <= end:
            agenda[d.receipt].append(partial(self._receive, d))
        else:
            self._receipt(d, [(item, qty, 0, line, price) for item, qty, price, line in d.lines], "assigned",
                          d.approved, d.approved, scheduled=d.receipt_at)
        if d.bill <= end:
            agenda[d.bill].append(partial(self._bill, d))

    def _receive(self, d: _Delivery) -> None:
        """The first receipt; what is missing goes to a backorder (done later, cancelled, or still open)."""
        on_order = d.store.on_order
        got = [(item, first, first, line, price) for (item, _qty, price, line), first in zip(d.lines, d.first) if first]
        if got:
            self._receipt(d, got, "done", d.receipt_at, d.approved, scheduled=self.sim.at(d.receipt, 10 * _HOUR))
        rest = [(item, qty - first, line, price)
                for (item, qty, price, line), first in zip(d.lines, d.first) if qty > first]
        for item, first, *_rest in got:
            on_order[item.index] -= first
        if not rest:
            return
        if d.cancelled:
            for item, missing, _line, _price in rest:
                on_order[item.index] -= missing
            self._receipt(d, [(item, missing, 0, line, price) for item, missing, line, price in rest], "cancel",
                          self._later(d.receipt, d.receipt_at), d.receipt_at)
        elif d.backorder <= self.sim.end:
            self.sim.agenda[d.backorder].append(partial(self._receive_rest, d, rest))
        else:
            self._receipt(d, [(item, missing, 0, line, price) for item, missing, line, price in rest], "assigned",
                          d.receipt_at, d.receipt_at, scheduled=d.backorder_at)

    def _receive_rest(self, d: _Delivery, rest: list[tuple[_Item, int, int, float]]) -> None:
        for item, missing, _line, _price in rest:
            d.store.on_order[item.index] -= missing
        self._receipt(d, [(item, missing, missing, line, price) for item, missing, line, price in rest], "done",
                      d.backorder_at, d.receipt_at)

    def _receipt(self, d: _Delivery, lines: list[tuple], state: str, when: str, created: str,
                 scheduled: str | None = None) -> None:
        sim = self.sim
        sim.stock.transfer(name=sim.stock.picking_name(d.store, "IN"), ptype=d.store.type_in,
                           src=sim.company.vendors_loc, dest=d.store.stock_loc, lines=lines, when=when,
                           created=created, cost_day=sim.costs.today, origin=d.name, partner=d.vendor.id,
                           state=state, scheduled=scheduled)

    def _bill(self, d: _Delivery) -> None:
        received = self._received(d, [qty for _item, qty, _price, _line in d.lines])
        spec = [(item.id, item.label, got, price, 0.0, item.vat)
                for (item, _qty, price, _line), got in zip(d.lines, received) if got]
        if spec:
            self.sim.invoices.vendor_bill(d.vendor.id, d.bill, d.bill_at, d.name, spec)


# --------------------------------------------------------------------------- other stock operations

class _Operations:
    """Archiving products, cycle counts, transfers between shops, scraps."""

    def __init__(self, sim: _Simulation):
        self.sim = sim
        self.rng = sim.rng
        self.archives: defaultdict[dt.date, list[_Item]] = defaultdict(list)
        for item in sim.company.items:
            if item.archive_day and item.archive_day >= sim.start:
                self.archives[item.archive_day].append(item)
        stores = sim.scale.stores
        self.counts, self.transfers, self.scraps = 1 + stores // 3, max(1, stores // 4), 1 + stores // 4

    def morning(self, day: dt.date) -> None:
        self._archive(day)
        for _ in range(self.counts):
            self._count(day)

    def evening(self, day: dt.date) -> None:
        stores = self.sim.open_stores(day)
        if day.weekday() < 5 and len(stores) > 1:
            for _ in range(self.transfers):
                self._transfer(day, *self.rng.sample(stores, 2))
        for _ in range(self.scraps):
            self._scrap(day)

    def _archive(self, day: dt.date) -> None:
        """Archived products leave the shelves: remaining stock is adjusted to zero."""
        items = self.archives.pop(day, None)
        if not items:
            return
        company = self.sim.company
        for item in items:
            item.active = False
        company.refresh_sellable()
        for store in company.stores:
            store.drop_archived()
            for item in items:
                if store.on_hand[item.index] > 0:
                    self.sim.stock.adjust(store, item, -store.on_hand[item.index], day, 7 * _HOUR)

    def _shelf(self, day: dt.date) -> tuple[_Store, _Item] | None:
        """A random storable product on a random open shop's shelf, if in stock."""
        stores = self.sim.open_stores(day)
        store = stores[int(self.rng.random() * len(stores))]
        item = store.catalog[int(self.rng.random() * len(store.catalog))]
        return (store, item) if item.kind == _STORABLE and store.on_hand[item.index] > 0 else None

    def _count(self, day: dt.date) -> None:
        found = self._shelf(day)
        if found:
            store, item = found
            delta = max(self.rng.choice((-2, -1, -1, 1, 1, 2, 3)), -store.on_hand[item.index])
            self.sim.stock.adjust(store, item, delta, day, 7.5 * _HOUR + self.rng.random() * 1800)

    def _scrap(self, day: dt.date) -> None:
        found = self._shelf(day)
        if found:
            store, item = found
            qty = min(store.on_hand[item.index], 1 + int(self.rng.random() * 2))
            self.sim.stock.scrap(store, item, qty, day, 18 * _HOUR + self.rng.random() * _HOUR)

    def _transfer(self, day: dt.date, src: _Store, dest: _Store) -> None:
        """Rebalancing: a third of what the source holds of a few products it has plenty of."""
        sim, rng = self.sim, self.rng
        picks = rng.sample(src.catalog, min(10, len(src.catalog)))
        moves = [(item, src.on_hand[item.index] // 3) for item in picks
                 if item.kind == _STORABLE and dest.carries[item.index] and src.on_hand[item.index] >= 6]
        if not moves:
            return
        r = rng.random()
        state = "done" if r < 0.9 else "assigned" if r < 0.96 else "cancel"
        created = sim.at(day, 10 * _HOUR + rng.random() * _HOUR)
        when = sim.at(day, 14 * _HOUR + rng.random() * 3 * _HOUR)
        costs = sim.costs.current
        lines = [(item, qty, qty if state == "done" else 0, False, costs[item.index]) for item, qty in moves]
        sim.stock.transfer(name=sim.stock.picking_name(src, "INT"), ptype=src.type_int, src=src.stock_loc,
                           dest=dest.stock_loc, lines=lines, when=when, created=created, cost_day=day, state=state,
                           scheduled=sim.at(day + _ONE_DAY, 10 * _HOUR) if state == "assigned" else None)


# --------------------------------------------------------------------------- late edits

class _LateEdits:
    """Finds candidates in a database and edits them as users do after the fact."""

    def __init__(self, db: Database, when: dt.datetime, rng: random.Random):
        self.db = db
        self.rng = rng
        self.when = when.astimezone(dt.timezone.utc).replace(tzinfo=None) if when.tzinfo else when
        self.stamp = fmt_datetime(self.when)
        tz = ZoneInfo(db.company_tz)
        self.today = self.when.replace(tzinfo=dt.timezone.utc).astimezone(tz).date()
        self.qty_field = "quantity_done" if db.version == 16 else "quantity"
        self.changed: defaultdict[str, set[int]] = defaultdict(set)
        self._quants: dict[tuple[int, int], Record] | None = None

    # -- helpers

    def _all(self, model: str) -> dict[int, Record]:
        return self.db.models[model].records

    def _write(self, model: str, record: Record, values: Record) -> None:
        record.update(values)
        record["write_date"] = self.stamp
        self.changed[model].add(record["id"])

    def _create(self, model: str, values: Record) -> int:
        rid = self.db.create(model, values, self.when)
        self.changed[model].add(rid)
        return rid

    def _pick(self, candidates: list[Record], n: int) -> list[Record]:
        return self.rng.sample(candidates, min(n, len(candidates)))

    def _children(self, model: str, parent_field: str) -> defaultdict[int, list[Record]]:
        children: defaultdict[int, list[Record]] = defaultdict(list)
        for record in self._all(model).values():
            children[record[parent_field]].append(record)
        return children

    def _next_number(self, model: str, prefix: str) -> int:
        numbers = [int(r["name"][len(prefix):]) for r in self._all(model).values()
                   if r["name"] and r["name"].startswith(prefix) and r["name"][len(prefix):].isdigit()]
        return max(numbers, default=0) + 1

    # -- POS

    def discount_pos_lines(self, n: int) -> None:
        """A discount granted afterwards on lines of paid, not invoiced orders of past days."""
        orders = self._all("pos.order")
        lines_of = self._children("pos.order.line", "order_id")
        cutoff = fmt_datetime(self.when - _ONE_DAY)
        candidates = [line for line in self._all("pos.order.line").values()
                      if line["qty"] > 0 and line["discount"] <= 40 and line["price_subtotal"] > 0
                      and _is_paid_pos(orders[line["order_id"]]) and orders[line["order_id"]]["date_order"] < cutoff]
        for line in self._pick(candidates, n):
            rate = _vat_rate(line["price_subtotal"], line["price_subtotal_incl"])
            discount = line["discount"] + 10.0
            subtotal = round(line["qty"] * line["price_unit"] * (1 - discount / 100), 2)
            self._write("pos.order.line", line, {"discount": discount, "price_subtotal": subtotal,
                                                 "price_subtotal_incl": round(subtotal + round(subtotal * rate, 2), 2)})
            order = orders[line["order_id"]]
            total = round(sum(l["price_subtotal_incl"] for l in lines_of[order["id"]]), 2)
            tax = round(sum(l["price_subtotal_incl"] - l["price_subtotal"] for l in lines_of[order["id"]]), 2)
            self._write("pos.order", order, {"amount_total": total, "amount_tax": tax, "amount_paid": total})

    def close_open_sessions(self, n: int) -> None:
        """Sessions left open get closed: drafts cancelled, lines costed, stock delivered."""
        sessions = [s for s in self._all("pos.session").values() if s["state"] != "closed"][:n]
        if not sessions:
            return
        orders_of = self._children("pos.order", "session_id")
        lines_of = self._children("pos.order.line", "order_id")
        for session in sessions:
            moved = self._cost_session(orders_of[session["id"]], lines_of)
            self._deliver(session, moved)
            self._write("pos.session", session, {"state": "closed", "stop_at": self.stamp})

    def _cost_session(self, orders: list[Record], lines_of: dict[int, list[Record]]) -> dict[int, float]:
        """Close the orders; returns the signed quantity to deliver per storable product."""
        products = self._all("product.product")
        moved: defaultdict[int, float] = defaultdict(float)
        for order in orders:
            if order["state"] in ("draft", "cancel"):
                if order["state"] == "draft":
                    self._write("pos.order", order, {"state": "cancel"})
                continue
            self._write("pos.order", order, {"state": "done" if order["state"] == "paid" else order["state"]})
            for line in lines_of[order["id"]]:
                product = products[line["product_id"]]
                self._write("pos.order.line", line, {"total_cost": round(line["qty"] * product["standard_price"], 2),
                                                     "is_total_cost_computed": True})
                if _is_storable(product, self.db.version):
                    moved[product["id"]] += line["qty"]
        return moved

    def _deliver(self, session: Record, moved: dict[int, float]) -> None:
        config = self._all("pos.config")[session["config_id"]]
        ptype = self._all("stock.picking.type")[config["picking_type_id"]]
        code = self._all("stock.warehouse")[config["warehouse_id"]]["code"]
        stock, customers = ptype["default_location_src_id"], ptype["default_location_dest_id"]
        out = {p: q for p, q in moved.items() if q > 0}
        back = {p: -q for p, q in moved.items() if q < 0}
        for quantities, src, dest in ((out, stock, customers), (back, customers, stock)):
            if quantities:
                name = f"{code}/POS/{self._next_number('stock.picking', f'{code}/POS/'):05d}"
                self._picking(name, ptype["id"], src, dest, quantities, session["name"])

    def _picking(self, name: str, ptype: int, src: int, dest: int, quantities: dict[int, float], origin: str) -> None:
        products = self._all("product.product")
        picking = self._create("stock.picking", {
            "name": name, "origin": origin, "picking_type_id": ptype, "partner_id": False, "location_id": src,
            "location_dest_id": dest, "state": "done", "scheduled_date": self.stamp, "date_done": self.stamp})
        internal_src = self._is_internal(src)
        for product_id, qty in sorted(quantities.items()):
            product = products[product_id]
            move = self._create("stock.move", {
                "name": f"[{product['default_code']}] {product['name']}", "reference": name, "origin": origin,
                "product_id": product_id, "product_uom_qty": qty, self.qty_field: qty, "location_id": src,
                "location_dest_id": dest, "state": "done", "date": self.stamp, "picking_id": picking,
                "picking_type_id": ptype, "purchase_line_id": False, "price_unit": product["standard_price"],
                "scrapped": False, "is_inventory": False, "company_id": 1})
            self._bump_quant(product_id, src if internal_src else dest, -qty if internal_src else qty)
            if "stock.valuation.layer" in self.db.models:
                signed, cost = (-qty if internal_src else qty), product["standard_price"]
                self._create("stock.valuation.layer", {
                    "product_id": product_id, "stock_move_id": move, "company_id": 1,
                    "description": f"{name} - [{product['default_code']}] {product['name']}", "quantity": signed,
                    "unit_cost": cost, "value": round(signed * cost, 2)})

    def _is_internal(self, location: int) -> bool:
        return self._all("stock.location")[location]["usage"] == "internal"

    def _quant_index(self) -> dict[tuple[int, int], Record]:
        if self._quants is None:
            self._quants = {(q["product_id"], q["location_id"]): q for q in self._all("stock.quant").values()}
        return self._quants

    def _bump_quant(self, product: int, location: int, delta: float) -> None:
        quants = self._quant_index()
        quant = quants.get((product, location))
        if quant is None:
            rid = self._create("stock.quant", {"product_id": product, "location_id": location, "company_id": 1,
                                               "quantity": delta, "reserved_quantity": 0.0, "in_date": self.stamp})
            quants[product, location] = self._all("stock.quant")[rid]
        else:
            self._write("stock.quant", quant, {"quantity": quant["quantity"] + delta})

    # -- invoices

    def _plain_invoices(self, min_age_days: int) -> list[Record]:
        """Posted customer invoices not made from POS orders, not reversed, at least that old."""
        moves = self._all("account.move")
        from_pos = {o["account_move"] for o in self._all("pos.order").values() if o["account_move"]}
        reversed_ = {m["reversed_entry_id"] for m in moves.values() if m["reversed_entry_id"]}
        cutoff = (self.today - dt.timedelta(days=min_age_days)).isoformat()
        return [m for m in moves.values() if m["move_type"] == "out_invoice" and m["state"] == "posted"
                and m["id"] not in from_pos and m["id"] not in reversed_ and m["date"] < cutoff]

    def cancel_invoices(self, n: int) -> None:
        lines_of = self._children("account.move.line", "move_id")
        for move in self._pick(self._plain_invoices(2), n):
            self._write("account.move", move, {"state": "cancel"})
            for line in lines_of[move["id"]]:
                self._write("account.move.line", line, {"parent_state": "cancel"})

    def backdated_credit_notes(self, n: int) -> None:
        """Credit notes entered today but dated a few days after the invoice they reverse."""
        lines_of = self._children("account.move.line", "move_id")
        for invoice in self._pick(self._plain_invoices(3), n):
            day = dt.date.fromisoformat(invoice["date"]) + dt.timedelta(days=1 + int(self.rng.random() * 3))
            day = min(day, self.today - _ONE_DAY)
            spec = [(l["product_id"], l["name"], l["quantity"], l["price_unit"], l["discount"],
                     _vat_rate(l["price_subtotal"], l["price_total"]))
                    for l in lines_of[invoice["id"]] if l["display_type"] == "product"]
            name = f"RINV/{day.year}/{self._next_number('account.move', f'RINV/{day.year}/'):05d}"
            move, lines = _account_move("out_refund", name, "posted", invoice["partner_id"], day.isoformat(), spec,
                                        reversed_id=invoice["id"])
            move_id = self._create("account.move", move)
            for line in lines:
                self._create("account.move.line", {**line, "move_id": move_id})

    # -- purchases

    def correct_receipts(self, n: int) -> None:
        """A received quantity turns out one unit short."""
        locations, qf, quants = self._all("stock.location"), self.qty_field, self._quant_index()
        candidates = [m for m in self._all("stock.move").values()
                      if m["state"] == "done" and m["purchase_line_id"] and m[qf] >= 2
                      and locations[m["location_id"]]["usage"] == "supplier"
                      and quants.get((m["product_id"], m["location_dest_id"]), {}).get("quantity", 0) >= 1]
        layers = {}
        if "stock.valuation.layer" in self.db.models:
            layers = {l["stock_move_id"]: l for l in self._all("stock.valuation.layer").values() if l["stock_move_id"]}
        lines, orders = self._all("purchase.order.line"), self._all("purchase.order")
        lines_of = self._children("purchase.order.line", "order_id")
        for move in self._pick(candidates, n):
            self._write("stock.move", move, {qf: move[qf] - 1})
            self._write("stock.picking", self._all("stock.picking")[move["picking_id"]], {})
            self._bump_quant(move["product_id"], move["location_dest_id"], -1.0)
            layer = layers.get(move["id"])
            if layer:
                qty = layer["quantity"] - 1
                value = round(qty * layer["unit_cost"], 2)
                self._write("stock.valuation.layer", layer, {"quantity": qty, "value": value})
            line = lines[move["purchase_line_id"]]
            self._write("purchase.order.line", line, {"qty_received": line["qty_received"] - 1})
            order = orders[line["order_id"]]
            self._write("purchase.order", order, {"invoice_status": _invoice_status(lines_of[order["id"]])})


def _is_paid_pos(order: Record) -> bool:
    return order["state"] in ("paid", "done") and not order["account_move"]


def _is_storable(product: Record, version: int) -> bool:
    return product.get("detailed_type") == "product" if version <= 17 else bool(product.get("is_storable"))


def _vat_rate(subtotal: float, total: float) -> float:
    """The VAT rate (6 % or 21 %) that turned ``subtotal`` into ``total``."""
    ratio = (total - subtotal) / subtotal if subtotal else 0.0
    return min((0.06, 0.21), key=lambda rate: abs(rate - ratio))


def _invoice_status(lines: list[Record]) -> str:
    if any(l["qty_received"] != l["qty_invoiced"] for l in lines):
        return "to invoice"
    return "invoiced" if any(l["qty_invoiced"] for l in lines) else "no"
