"""Purchasing: reorder reviews, purchase orders, receipts (partial, backordered,
cancelled or still open) and vendor bills."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from nkdash.demo.generate.base import Item, Store, Vendor, not_sunday, outcome, weekday_on_or_after
from nkdash.demo.generate.catalogue import HOUR, PURCHASE_FATES

if TYPE_CHECKING:
    from nkdash.demo.generate.invoicing import InvoiceLine
    from nkdash.demo.generate.simulation import Simulation


@dataclass(eq=False, slots=True)
class _Delivery:
    """How a confirmed purchase order gets delivered and billed (planned at confirmation)."""

    store: Store
    vendor: Vendor
    name: str
    approved: str
    lines: list[tuple[Item, int, float, int]]  # item, ordered qty, unit price, purchase line id
    first: list[int]  # received by the first receipt
    receipt: dt.date
    receipt_at: str
    backorder: dt.date | None  # day the rest arrives (None: no rest, or cancelled)
    backorder_at: str | None
    cancelled: bool  # the rest will never come
    bill: dt.date
    bill_at: str


class Purchasing:
    """Each weekday a slice of the (shop, vendor) pairs is reviewed; what fell below its
    reorder level is ordered. Receipts arrive after the vendor's lead time."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.rng = sim.rng
        self.books = sim.books
        company = sim.company
        self.pairs = [
            (store, vendor) for vendor in company.vendors for store in company.stores if vendor.id in store.by_vendor
        ]
        self.cycle = company.review_cycle()
        self.reviews = self.orders = 0

    def play(self, day: dt.date) -> None:
        slot = self.reviews % self.cycle
        self.reviews += 1
        for store, vendor in self.pairs[slot :: self.cycle]:
            need = self._needs(store, vendor)
            if need:
                self._order(store, vendor, day, need)

    def _needs(self, store: Store, vendor: Vendor) -> list[tuple[Item, int]]:
        need = []
        for item in store.by_vendor[vendor.id]:
            i = item.index
            level, position = store.reorder[i], store.on_hand[i] + store.on_order[i]
            if item.active and position <= level:
                need.append((item, -(-(2 * level + 2 - position) // item.pack) * item.pack))
        return need

    def _order(self, store: Store, vendor: Vendor, day: dt.date, need: list[tuple[Item, int]]) -> None:
        sim, rng = self.sim, self.rng
        self.orders += 1
        state = outcome(rng, self.orders, PURCHASE_FATES, "purchase")
        ordered_s = 8.5 * HOUR + rng.random() * 3 * HOUR
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
        return self.sim.at(later, 10 * HOUR) if later <= self.sim.end else default

    def _plan(
        self, store: Store, vendor: Vendor, name: str, day: dt.date, approved: str, need: list[tuple[Item, int]]
    ) -> _Delivery:
        rng, sim = self.rng, self.sim
        receipt = not_sunday(day + dt.timedelta(days=vendor.lead))
        partial = rng.random() < 0.08
        first = [
            qty if not partial or rng.random() < 0.5 else int(qty * (0.3 + 0.6 * rng.random())) for _item, qty in need
        ]
        rest = any(qty > got for (_item, qty), got in zip(need, first))
        cancelled = rest and rng.random() < 0.3
        backorder = None  # the day the rest comes, if it ever does
        if rest and not cancelled:
            backorder = not_sunday(receipt + dt.timedelta(days=2 + int(rng.random() * 4)))
        bill = weekday_on_or_after((backorder or receipt) + dt.timedelta(days=1 + int(rng.random() * 6)))
        return _Delivery(
            store,
            vendor,
            name,
            approved,
            [],
            first,
            receipt,
            sim.at(receipt, 10 * HOUR + rng.random() * 4 * HOUR),
            backorder,
            sim.at(backorder, 10 * HOUR + rng.random() * 4 * HOUR) if backorder else None,
            cancelled,
            bill,
            sim.at(bill, 11 * HOUR + rng.random() * 5 * HOUR),
        )

    def _emit(
        self,
        store: Store,
        vendor: Vendor,
        name: str,
        state: str,
        day: dt.date,
        ordered: str,
        written: str,
        delivery: _Delivery | None,
        need: list[tuple[Item, int]],
    ) -> list[tuple[Item, int, float, int]]:
        """The purchase order and its lines, in their state as of the last day."""
        received = self._received(delivery, [qty for _item, qty in need])
        billed = delivery is not None and delivery.bill <= self.sim.end
        if delivery:
            state = "done" if billed else "purchase"
            written = max(stamp for stamp in self._events(delivery) if stamp)
        planned_day = not_sunday(day + dt.timedelta(days=vendor.promised))  # what the vendor promised
        planned = self.sim.at(planned_day, 10 * HOUR)
        po = {
            "name": name,
            "partner_id": vendor.id,
            "company_id": 1,
            "currency_id": 1,
            "picking_type_id": store.type_in,
            "state": state,
            "date_order": ordered,
            "date_approve": delivery.approved if delivery else False,
            "date_planned": planned,
            "effective_date": self._arrival(delivery),
            "invoice_status": "invoiced" if billed else "to invoice" if any(received) else "no",
            "create_date": ordered,
            "write_date": written,
        }
        po_id = self.books.add("purchase.order", po)
        prices = self.sim.costs.current
        lines, untaxed, tax = [], 0.0, 0.0
        for (item, qty), got in zip(need, received):
            price = prices[item.index]
            subtotal = round(qty * price, 2)
            vat = round(subtotal * item.vat, 2)
            line_id = self.books.add(
                "purchase.order.line",
                {
                    "name": item.label,
                    "order_id": po_id,
                    "partner_id": vendor.id,
                    "state": state,
                    "display_type": False,
                    "product_id": item.id,
                    "product_qty": float(qty),
                    "qty_received": float(got),
                    "qty_invoiced": float(got) if billed else 0.0,
                    "price_unit": price,
                    "price_subtotal": subtotal,
                    "price_total": round(subtotal + vat, 2),
                    "date_planned": planned,
                    "create_date": ordered,
                    "write_date": written,
                },
            )
            lines.append((item, qty, price, line_id))
            untaxed += subtotal
            tax += vat
            if delivery:
                store.on_order[item.index] += qty
        po.update(amount_untaxed=round(untaxed, 2), amount_tax=round(tax, 2), amount_total=round(untaxed + tax, 2))
        return lines

    def _arrival(self, d: _Delivery | None) -> str | bool:
        """When the order's first receipt was done by the last day (Odoo's ``effective_date``)."""
        end = self.sim.end
        if d is not None and d.receipt <= end and any(d.first):
            return d.receipt_at
        if d is not None and d.backorder is not None and d.backorder <= end and d.backorder_at:
            return d.backorder_at
        return False

    def _events(self, d: _Delivery) -> list[str | None]:
        end = self.sim.end
        return [
            d.approved,
            d.receipt_at if d.receipt <= end else None,
            d.backorder_at if d.backorder and d.backorder <= end else None,
            d.bill_at if d.bill <= end else None,
        ]

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
            self._receipt(
                d,
                [(item, qty, 0, line, price) for item, qty, price, line in d.lines],
                "assigned",
                d.approved,
                d.approved,
                scheduled=d.receipt_at,
            )
        if d.bill <= end:
            agenda[d.bill].append(partial(self._bill, d))

    def _receive(self, d: _Delivery) -> None:
        """The first receipt; what is missing goes to a backorder (done later, cancelled, or still open)."""
        on_order = d.store.on_order
        got = [(item, first, first, line, price) for (item, _qty, price, line), first in zip(d.lines, d.first) if first]
        if got:
            self._receipt(d, got, "done", d.receipt_at, d.approved, scheduled=self.sim.at(d.receipt, 10 * HOUR))
        rest = [
            (item, qty - first, line, price) for (item, qty, price, line), first in zip(d.lines, d.first) if qty > first
        ]
        for item, first, *_rest in got:
            on_order[item.index] -= first
        if not rest:
            return
        if d.cancelled:
            for item, missing, _line, _price in rest:
                on_order[item.index] -= missing
            self._receipt(
                d,
                [(item, missing, 0, line, price) for item, missing, line, price in rest],
                "cancel",
                self._later(d.receipt, d.receipt_at),
                d.receipt_at,
            )
        elif d.backorder is not None and d.backorder <= self.sim.end:  # not cancelled: it has a day
            self.sim.agenda[d.backorder].append(partial(self._receive_rest, d, rest))
        else:
            self._receipt(
                d,
                [(item, missing, 0, line, price) for item, missing, line, price in rest],
                "assigned",
                d.receipt_at,
                d.receipt_at,
                scheduled=d.backorder_at,
            )

    def _receive_rest(self, d: _Delivery, rest: list[tuple[Item, int, int, float]]) -> None:
        assert d.backorder_at is not None  # a rest that arrives has its time
        for item, missing, _line, _price in rest:
            d.store.on_order[item.index] -= missing
        self._receipt(
            d,
            [(item, missing, missing, line, price) for item, missing, line, price in rest],
            "done",
            d.backorder_at,
            d.receipt_at,
        )

    def _receipt(
        self, d: _Delivery, lines: list[tuple], state: str, when: str, created: str, scheduled: str | None = None
    ) -> None:
        sim = self.sim
        assert sim.costs.today is not None  # receipts happen during a simulated day
        sim.stock.transfer(
            name=sim.stock.picking_name(d.store, "IN"),
            ptype=d.store.type_in,
            src=sim.company.vendors_loc,
            dest=d.store.stock_loc,
            lines=lines,
            when=when,
            created=created,
            cost_day=sim.costs.today,
            origin=d.name,
            partner=d.vendor.id,
            state=state,
            scheduled=scheduled,
        )

    def _bill(self, d: _Delivery) -> None:
        received = self._received(d, [qty for _item, qty, _price, _line in d.lines])
        spec: list[InvoiceLine] = [
            (item.id, item.label, got, price, 0.0, item.vat)
            for (item, _qty, price, _line), got in zip(d.lines, received)
            if got
        ]
        if spec:
            self.sim.invoices.vendor_bill(d.vendor.id, d.bill, d.bill_at, d.name, spec)
