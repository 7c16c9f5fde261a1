"""Events after the fact that move records to another date or remove them.

:func:`~nkdash.demo.generate.apply_late_edits` changes records in place; these are the
two other ways Odoo data changes behind a nightly load (ARCHITECTURE.md, *Business
rules*: records "move between dates ... and disappear"), done the way Odoo lets a user do
them:

- :func:`redate_invoices`: a posted customer invoice is reset to draft, its invoice date
  (and accounting date, and its journal items' date) moved ``days`` later (or earlier),
  and posted again under the same number.
- :func:`delete_invoices`: a posted customer invoice is reset to draft, then deleted with
  its journal items (Odoo deletes no posted entry).
- :func:`delete_purchases`: a confirmed purchase order is cancelled, with its pending
  receipts (moves and pickings cancelled, never deleted), then deleted with its lines
  (Odoo deletes only cancelled orders); the receipts' moves lose their purchase line.

Each takes ``(db, when, n=1, *, seed=0)`` and treats up to ``n`` records picked with
``random.Random(seed)`` among those that qualify; it returns :class:`Changes`. What it
writes gets ``write_date = when`` (microseconds kept, as Odoo's transaction clock has
them); ``db.now`` reaches ``when``; a server serving ``db`` answers no call meanwhile and
rebuilds its indexes after. The candidates avoid what would need more of Odoo than the
demo models: invoices made from POS orders or reversed by a credit note, and purchase
orders with a done receipt or a vendor bill (Odoo refuses to cancel those).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from nkdash.demo.generate.base import Record
from nkdash.demo.generate.catalogue import ONE_DAY
from nkdash.demo.generate.late_edits import LateEdits
from nkdash.demo.store import Database
from nkdash.errors import InputError


@dataclass(frozen=True)
class Changes:
    """What an event did, by model: ids written (the records still exist) and deleted; for
    each re-dated invoice (``account.move`` id), its old and new date."""

    written: dict[str, list[int]] = field(default_factory=dict)
    deleted: dict[str, list[int]] = field(default_factory=dict)
    redated: dict[int, tuple[dt.date, dt.date]] = field(default_factory=dict)


def redate_invoices(db: Database, when: dt.datetime, n: int = 1, *, days: int = 4, seed: int = 0) -> Changes:
    """Move posted customer invoices ``days`` (not 0) later, or earlier if negative.

    The new date stays within history (not before its first invoice, not after the day
    before ``when``), in the same year (the number keeps its ``INV/<year>/`` prefix) and
    on a weekday (invoices are entered on weekdays).
    """
    if days == 0:
        raise InputError("an invoice is re-dated by at least one day", days)
    return _run(db, when, seed, lambda events: events.redate_invoices(n, days))


def delete_invoices(db: Database, when: dt.datetime, n: int = 1, *, seed: int = 0) -> Changes:
    """Delete posted customer invoices of past days (reset to draft first, as Odoo requires)."""
    return _run(db, when, seed, lambda events: events.delete_invoices(n))


def delete_purchases(db: Database, when: dt.datetime, n: int = 1, *, seed: int = 0) -> Changes:
    """Cancel confirmed purchase orders whose goods have not arrived, then delete them."""
    return _run(db, when, seed, lambda events: events.delete_purchases(n))


def _run(db: Database, when: dt.datetime, seed: int, event: Callable[[Events], None]) -> Changes:
    with db.lock:
        events = Events(db, when, random.Random(seed))
        event(events)
        events.finish()
    return events.result()


class Events(LateEdits):
    """Late edits that also delete records and move invoices between dates."""

    def __init__(self, db: Database, when: dt.datetime, rng: random.Random):
        super().__init__(db, when, rng)
        self.deleted: defaultdict[str, set[int]] = defaultdict(set)
        self.redated: dict[int, tuple[dt.date, dt.date]] = {}

    def result(self) -> Changes:
        written = {model: ids for model, ids in self.summary().items() if ids}
        return Changes(written, {model: sorted(ids) for model, ids in self.deleted.items()}, dict(self.redated))

    def _delete(self, model: str, ids: list[int]) -> None:
        for rid in self.db.unlink(model, ids):
            self.deleted[model].add(rid)
            self.changed[model].discard(rid)

    # -- invoices

    def redate_invoices(self, n: int, days: int) -> None:
        lines_of = self._children("account.move.line", "move_id")
        first = min(m["date"] for m in self._all("account.move").values() if m["date"])
        within = _Window(dt.date.fromisoformat(first), self.today - ONE_DAY, days)
        for move in self._pick([m for m in self._plain_invoices(0) if within.fits(m["date"])], n):
            old = dt.date.fromisoformat(move["date"])
            new = (old + dt.timedelta(days=days)).isoformat()
            lines = lines_of[move["id"]]
            self._set_state(move, lines, "draft")  # button_draft
            self._write("account.move", move, {"invoice_date": new, "date": new})
            for line in lines:
                self._write("account.move.line", line, {"date": new})
            self._set_state(move, lines, "posted")  # action_post: same name
            self.redated[move["id"]] = (old, dt.date.fromisoformat(new))

    def delete_invoices(self, n: int) -> None:
        lines_of = self._children("account.move.line", "move_id")
        for move in self._pick(self._plain_invoices(0), n):
            lines = lines_of[move["id"]]
            self._set_state(move, lines, "draft")  # button_draft
            self._delete("account.move.line", [line["id"] for line in lines])
            self._delete("account.move", [move["id"]])

    def _set_state(self, move: Record, lines: list[Record], state: str) -> None:
        self._write("account.move", move, {"state": state})
        for line in lines:
            self._write("account.move.line", line, {"parent_state": state})

    # -- purchases

    def delete_purchases(self, n: int) -> None:
        lines_of = self._children("purchase.order.line", "order_id")
        moves_of = self._children("stock.move", "purchase_line_id")
        billed = {
            m["invoice_origin"]
            for m in self._all("account.move").values()
            if m["move_type"] == "in_invoice" and m["state"] != "cancel"
        }

        def receipts(order: Record) -> list[Record]:
            return [move for line in lines_of[order["id"]] for move in moves_of[line["id"]]]

        candidates = [
            o
            for o in self._all("purchase.order").values()
            if o["state"] == "purchase"
            and o["name"] not in billed
            and all(move["state"] != "done" for move in receipts(o))
        ]
        for order in self._pick(candidates, n):
            lines = lines_of[order["id"]]
            self._cancel_receipts(receipts(order))  # button_cancel
            self._write("purchase.order", order, {"state": "cancel"})
            for line in lines:
                self._write("purchase.order.line", line, {"state": "cancel"})
            for move in receipts(order):
                move["purchase_line_id"] = False  # ON DELETE SET NULL: no write_date
            self._delete("purchase.order.line", [line["id"] for line in lines])
            self._delete("purchase.order", [order["id"]])

    def _cancel_receipts(self, moves: list[Record]) -> None:
        """Pending moves are cancelled (and unreserved); so are the pickings left with no other move."""
        pickings = self._all("stock.picking")
        for move in moves:
            if move["state"] != "cancel":
                self._write("stock.move", move, {"state": "cancel", self.qty_field: 0.0})
        moves_of = self._children("stock.move", "picking_id")
        for picking_id in sorted({move["picking_id"] for move in moves if move["picking_id"]}):
            picking = pickings[picking_id]
            if picking["state"] != "cancel" and all(m["state"] == "cancel" for m in moves_of[picking_id]):
                self._write("stock.picking", picking, {"state": "cancel"})


@dataclass(frozen=True)
class _Window:
    """Where an invoice may be moved ``days`` to: ``first``..``last``, same year, a weekday."""

    first: dt.date
    last: dt.date
    days: int

    def fits(self, date: str) -> bool:
        old = dt.date.fromisoformat(date)
        new = old + dt.timedelta(days=self.days)
        return self.first <= new <= self.last and new.year == old.year and new.weekday() < 5
