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
  receipts validated days after confirmation); :func:`apply_late_edits` and the events
  below add more
- ``stock.move`` of 17+ in state ``assigned`` show their reserved ``quantity``: only
  ``state = done`` moves count
- weekends: customer invoices, credit notes and purchases happen Monday to Friday only

After the fact
--------------
Applied to a generated (even a served) database, at a time ``when`` of the caller's
choosing; everything they write gets ``write_date = when``, microseconds kept (Odoo's
transaction clock has them; ``read`` shows the second, domains compare the full value):

- ``apply_late_edits(db, when, n=5, seed=0) -> {model: [ids]}``: records changed in place
  (late discounts on POS lines, open sessions closed and costed, invoices cancelled,
  backdated credit notes, corrected receipt quantities).
- ``redate_invoices(db, when, n=1, *, days=4, seed=0)``: posted customer invoices reset
  to draft, moved ``days`` within history, posted again.
- ``delete_invoices(db, when, n=1, *, seed=0)``: posted customer invoices reset to draft
  and deleted with their journal items.
- ``delete_purchases(db, when, n=1, *, seed=0)``: confirmed purchase orders with nothing
  received nor billed cancelled (pending receipts too), then deleted with their lines.

The events return :class:`~nkdash.demo.generate.events.Changes` (ids written and
deleted per model; old and new date per re-dated invoice); see
:mod:`nkdash.demo.generate.events` for the rules they follow.

Modules
-------
``config`` (:class:`DemoConfig`, :data:`SCALES`), ``catalogue`` (static data and rates),
``base`` (clock, books, shops/products as simulated, random draws), ``company``
(dimensions), ``costs``, ``stock``, ``pos``, ``invoicing``, ``purchasing``,
``simulation`` (the day loop), ``late_edits`` and ``events`` (after the fact).

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

import datetime as dt
from collections.abc import Iterator

from nkdash.demo.generate.base import Batch
from nkdash.demo.generate.config import SCALES, DemoConfig, Scale
from nkdash.demo.generate.events import Changes, delete_invoices, delete_purchases, redate_invoices
from nkdash.demo.generate.late_edits import apply_late_edits
from nkdash.demo.generate.simulation import Simulation
from nkdash.demo.schema import define_models
from nkdash.demo.store import Database

__all__ = [
    "SCALES",
    "Changes",
    "DemoConfig",
    "Scale",
    "apply_late_edits",
    "delete_invoices",
    "delete_purchases",
    "generate",
    "iter_days",
    "redate_invoices",
]


def generate(config: DemoConfig | None = None) -> Database:
    """The whole company as a database, ready to serve."""
    config = config or DemoConfig()
    sim = Simulation(config)
    db = Database(config.db_name, config.version, company_tz=config.tz, now=sim.now)
    define_models(db)
    for _day, batch in sim.run():
        _load(db, batch)
    db.users.update(sim.company.logins)
    return db


def iter_days(config: DemoConfig) -> Iterator[tuple[dt.date | None, Batch]]:
    """Stream the company: dimensions, then one batch per day, then the stock quants."""
    yield from Simulation(config).run()


def _load(db: Database, batch: Batch) -> None:
    for name, records in batch.items():
        model = db.models[name]
        model.records.update((r["id"], r) for r in records)
        model.next_id = max(model.next_id, records[-1]["id"] + 1)
