"""Invoicing: customer invoices and credit notes, invoices of POS orders, vendor bills,
and the journal items of an invoice-like move."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from nkdash.demo.generate.base import Record, floor_exp_rate, outcome
from nkdash.demo.generate.catalogue import B2B_QTY, HOUR, INVOICE_FATES, INVOICE_LINES, SERVICE

if TYPE_CHECKING:
    from nkdash.demo.generate.simulation import Simulation


BALANCE_SIGN = {"out_invoice": -1, "out_refund": 1, "in_invoice": 1}  # of product lines
AMOUNT_SIGN = {"out_invoice": 1, "out_refund": -1, "in_invoice": -1}  # of the *_signed amounts

# (product id, label, quantity, unit price, discount %, VAT rate)
InvoiceLine = tuple[int, str, float, float, float, float]


def account_move(
    move_type: str,
    name: str,
    state: str,
    partner: int,
    date: str,
    spec: list[InvoiceLine],
    origin: str | bool = False,
    reversed_id: int | bool = False,
) -> tuple[Record, list[Record]]:
    """An invoice-like move and its journal items (product, tax and payment-term lines), without ids."""
    sign = BALANCE_SIGN[move_type]
    head = {"move_type": move_type, "parent_state": state, "date": date, "partner_id": partner, "company_id": 1}
    lines, untaxed = [], 0.0
    taxes: dict[float, float] = {}
    for product, label, qty, price, discount, rate in spec:
        subtotal = round(qty * price * (1 - discount / 100), 2)
        vat = round(subtotal * rate, 2)
        taxes[rate] = taxes.get(rate, 0.0) + vat
        untaxed += subtotal
        lines.append(
            _journal_item(
                head,
                label,
                product,
                "product",
                qty,
                price,
                discount,
                subtotal,
                round(subtotal + vat, 2),
                sign * subtotal,
            )
        )
    for rate, vat in taxes.items():
        lines.append(_journal_item(head, f"VAT {rate:.0%}", False, "tax", 0, 0.0, 0.0, 0.0, 0.0, sign * round(vat, 2)))
    untaxed, tax = round(untaxed, 2), round(sum(taxes.values()), 2)
    total = round(untaxed + tax, 2)
    lines.append(_journal_item(head, name, False, "payment_term", 0, 0.0, 0.0, 0.0, 0.0, -sign * total))
    signed = AMOUNT_SIGN[move_type]
    move = {
        "name": name,
        "move_type": move_type,
        "state": state,
        "partner_id": partner,
        "company_id": 1,
        "currency_id": 1,
        "date": date,
        "invoice_date": date,
        "invoice_origin": origin,
        "amount_untaxed": untaxed,
        "amount_tax": tax,
        "amount_total": total,
        "amount_untaxed_signed": signed * untaxed,
        "amount_total_signed": signed * total,
        "reversed_entry_id": reversed_id,
    }
    return move, lines


def _journal_item(
    head: Record,
    name: str,
    product: int | bool,
    display: str,
    qty: float,
    price: float,
    discount: float,
    subtotal: float,
    total: float,
    balance: float,
) -> Record:
    return {
        **head,
        "name": name,
        "product_id": product,
        "display_type": display,
        "quantity": float(qty),
        "price_unit": price,
        "discount": discount,
        "price_subtotal": subtotal,
        "price_total": total,
        "balance": balance,
        "debit": balance if balance > 0 else 0.0,
        "credit": -balance if balance < 0 else 0.0,
    }


class Invoicing:
    """Customer invoices and credit notes (weekdays), invoices of POS orders, vendor bills."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.rng = sim.rng
        self.books = sim.books
        self.recent: list[tuple[int, int, int, list[InvoiceLine]]] = []  # posted: (ordinal, id, partner, spec)
        self.issued = 0
        self.extra_lines = floor_exp_rate(INVOICE_LINES - 1)

    def play(self, day: dt.date) -> None:
        rng = self.rng
        count = round(self.sim.scale.invoices_per_day * (0.8 + 0.4 * rng.random()))
        for _ in range(count):
            self._customer_invoice(day)
        for _ in range(max(int(count * 0.05 + rng.random()), day.weekday() == 4)):  # Fridays: at least one
            self._credit_note(day)

    def _customer_invoice(self, day: dt.date) -> None:
        sim, rng, company = self.sim, self.rng, self.sim.company
        partner = self._customer()
        discount = rng.choice((5.0, 10.0)) if rng.random() < 0.2 else 0.0
        size = 1 + min(int(rng.expovariate(self.extra_lines)), 14)
        items = rng.choices(company.sellable, cum_weights=company.sellable_cum, k=size)
        spec: list[InvoiceLine] = [
            (it.id, it.label, 1 if it.kind == SERVICE else rng.choice(B2B_QTY), it.price, discount, it.vat)
            for it in items
        ]
        created = sim.at(day, 8 * HOUR + rng.random() * 9 * HOUR)
        state, changed = self._fate(day, created)
        touched = changed
        if state == "posted" and rng.random() < 0.4:  # paid later: the move is written again
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
        fate = outcome(self.rng, self.issued, INVOICE_FATES, "posted")
        if fate == "cancel":
            return "cancel", self._later(day, 1, 3) or created
        if fate == "next day":
            posted = self._later(day, 1, 1)
            return ("posted", posted) if posted else ("draft", created)
        return fate, created

    def _later(self, day: dt.date, low: int, high: int) -> str | None:
        """A time ``low``..``high`` days after ``day``, unless that is after the last day."""
        later = day + dt.timedelta(days=low + int(self.rng.random() * (high - low + 1)))
        return self.sim.at(later, 9 * HOUR + self.rng.random() * 8 * HOUR) if later <= self.sim.end else None

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
        created = self.sim.at(day, 9 * HOUR + rng.random() * 8 * HOUR)
        self._create("out_refund", partner, day, spec, "posted", created, created, reversed_id=reversed_id)

    def pos_invoice(self, order: Record, basket: list[tuple], day: dt.date, created: str) -> int:
        spec = [(it.id, it.label, qty, it.price, discount, it.vat) for it, qty, discount, _refunded in basket]
        return self._create(
            "out_invoice", order["partner_id"], day, spec, "posted", created, created, origin=order["name"]
        )

    def vendor_bill(self, vendor: int, day: dt.date, created: str, origin: str, spec: list[InvoiceLine]) -> None:
        self._create("in_invoice", vendor, day, spec, "posted", created, created, origin=origin)

    def _create(
        self,
        move_type: str,
        partner: int,
        day: dt.date,
        spec: list[InvoiceLine],
        state: str,
        created: str,
        changed: str,
        touched: str | None = None,
        origin: str | bool = False,
        reversed_id: int | bool = False,
    ) -> int:
        name = "/" if state == "draft" else self._number(move_type, day)
        move, lines = account_move(move_type, name, state, partner, day.isoformat(), spec, origin, reversed_id)
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
