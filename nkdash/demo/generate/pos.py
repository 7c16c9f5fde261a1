"""The point of sale: sessions, orders, refunds, invoiced orders, and the stock moves
of closing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nkdash.demo.generate.base import Item, Record, Store, floor_exp_rate
from nkdash.demo.generate.catalogue import (
    CANCEL_RATE,
    CUSTOMER_RATE,
    DAY_S,
    DISCOUNT_RATE,
    DISCOUNTS,
    HOUR,
    INVOICE_RATE,
    ONE_DAY,
    OPEN_STATES,
    POS_QTY,
    REFUND_RATE,
    REFUND_WINDOW,
    SERVICE,
    STORABLE,
    WEEKDAY,
)

if TYPE_CHECKING:
    from nkdash.demo.generate.simulation import Simulation


@dataclass(eq=False, slots=True)
class _Run:
    """One POS session being played."""

    store: Store
    day: dt.date
    id: int
    number: int
    name: str
    closing: str | None  # stop_at of a closed session
    seq: int = 0
    out: dict[Item, int] = field(default_factory=dict)  # units delivered, to move at closing
    back: dict[Item, int] = field(default_factory=dict)  # units returned


class PointOfSale:
    """Sessions, orders, refunds, invoiced orders and the stock moves of closing."""

    def __init__(self, sim: Simulation):
        self.sim = sim
        self.rng = sim.rng
        self.books = sim.books
        self.customers = sim.company.individuals
        self.sessions = 0
        self.extra_lines = floor_exp_rate(sim.scale.lines_per_order - 1)
        self.invoiced_state = "invoiced" if sim.version <= 18 else None  # 19: invoiced orders stay done

    def play(self, day: dt.date) -> None:
        last = day == self.sim.end
        for k, store in enumerate(self.sim.open_stores(day)):
            state = OPEN_STATES[k] if last and k < len(OPEN_STATES) else "closed"
            self._session(store, day, state, night=store.night and not last)

    def _session(self, store: Store, day: dt.date, state: str, night: bool) -> None:
        sim, rng = self.sim, self.rng
        self.sessions += 1
        name = f"POS/{self.sessions:05d}"
        opened = sim.at(day, store.open_s - 900 + rng.random() * 600)
        stop_s = store.close_s + (HOUR if night else 0) + 600 + int(rng.random() * 1800)
        closing = sim.at(day, stop_s) if state == "closed" else None
        sid = self.books.add(
            "pos.session",
            {
                "name": name,
                "config_id": store.config_id,
                "user_id": store.cashier,
                "state": state,
                "start_at": opened,
                "stop_at": closing or False,
                "create_date": opened,
                "write_date": closing or opened,
            },
        )
        run = _Run(store, day, sid, self.sessions, name, closing)
        for seconds, kind in self._plan(store, day, closing is not None, night):
            if kind == "refund":
                self._refund(run, seconds)
            else:
                self._sale(run, seconds, kind)
        if closing:
            self._close(run, stop_s)

    def _plan(self, store: Store, day: dt.date, closed: bool, night: bool) -> list[tuple[int, str]]:
        """(seconds after local midnight, kind) of the session's orders, in time order."""
        rng, scale = self.rng, self.sim.scale
        sales = round(scale.orders_per_store_day * store.size * WEEKDAY[day.weekday()] * (0.85 + 0.3 * rng.random()))
        kinds = ["sale"] * sales + ["refund"] * int(sales * REFUND_RATE + rng.random())
        kinds += [] if closed else ["draft"] * (2 + int(rng.random() * 2))
        rng.shuffle(kinds)
        starts = rng.choices(store.slots, cum_weights=store.slot_cum, k=len(kinds))
        times = sorted(min(s + int(rng.random() * 900), store.close_s - 1) for s in starts)
        plan = list(zip(times, kinds))
        if night:  # around midnight: at least one order before it and one after (next local date)
            late = [23 * HOUR + 1800 + int(rng.random() * 1800), DAY_S + int(rng.random() * 1800)]
            late += [23 * HOUR + 1800 + int(rng.random() * HOUR) for _ in range(int(rng.random() * 4))]
            plan += [(s, "sale") for s in sorted(late)]
        return plan

    def _sale(self, run: _Run, seconds: int, kind: str) -> None:
        rng = self.rng
        if kind == "draft":
            state = "draft"
        elif rng.random() < CANCEL_RATE:
            state = "cancel"
        else:
            state = "done" if run.closing else "paid"
        counted = state in ("done", "paid")
        partner: int | bool = False
        if self.customers and rng.random() < CUSTOMER_RATE:
            partner = self.customers[int(rng.random() * len(self.customers))]
        basket = self._basket(run.store, 1 + min(int(rng.expovariate(self.extra_lines)), 29), counted)
        if not basket:
            return
        order, line_ids = self._order(run, seconds, state, partner, basket)
        if counted and partner and rng.random() < INVOICE_RATE:
            self._invoice(run, seconds, order, basket)
        elif counted:
            self._keep_refundable(run, partner, basket, line_ids)

    def _basket(self, store: Store, size: int, reserve: bool) -> list[tuple[Item, int, float, int | bool]]:
        """(item, qty, discount, refunded line) picked by popularity; never more than the shelf holds."""
        rng, on_hand = self.rng, store.on_hand
        basket: list[tuple[Item, int, float, int | bool]] = []
        for item in rng.choices(store.catalog, cum_weights=store.cum, k=size):
            qty = 1 if item.kind == SERVICE else POS_QTY[int(rng.random() * len(POS_QTY))]
            if item.kind == STORABLE:
                have = on_hand[item.index]
                if have < qty:
                    if have <= 0:
                        continue
                    qty = have
                if reserve:
                    on_hand[item.index] = have - qty
            discount = DISCOUNTS[int(rng.random() * len(DISCOUNTS))] if rng.random() < DISCOUNT_RATE else 0.0
            basket.append((item, qty, discount, False))
        return basket

    def _order(
        self,
        run: _Run,
        seconds: int,
        state: str,
        partner: int | bool,
        basket: list[tuple[Item, int, float, int | bool]],
    ) -> tuple[Record, list[int]]:
        store, books = run.store, self.books
        store.order_seq += 1
        run.seq += 1
        stamp = self.sim.at(run.day, seconds)
        counted = state in ("done", "paid")
        costed = counted and run.closing is not None
        written = run.closing if costed else stamp
        order: Record = {
            "name": f"{store.name}/{store.order_seq:04d}",
            "pos_reference": f"Order {run.number:05d}-001-{run.seq:04d}",
            "session_id": run.id,
            "config_id": store.config_id,
            "company_id": 1,
            "partner_id": partner,
            "user_id": store.cashier,
            "date_order": stamp,
            "state": state,
            "amount_tax": 0.0,
            "amount_total": 0.0,
            "amount_paid": 0.0,
            "amount_return": 0.0,
            "account_move": False,
            "is_invoiced": False,
            "create_date": stamp,
            "write_date": written,
        }
        oid = books.add("pos.order", order)
        costs = self.sim.costs.prices(run.day if seconds < DAY_S else run.day + ONE_DAY)
        total = tax = 0.0
        line_ids = []
        for item, qty, discount, refunded in basket:
            subtotal = round(qty * item.price * (1 - discount / 100), 2)
            vat = round(subtotal * item.vat, 2)
            store.line_seq += 1
            line_ids.append(
                books.add(
                    "pos.order.line",
                    {
                        "name": f"{store.name}/{store.line_seq:04d}",
                        "full_product_name": item.label,
                        "order_id": oid,
                        "product_id": item.id,
                        "qty": float(qty),
                        "price_unit": item.price,
                        "discount": discount,
                        "price_subtotal": subtotal,
                        "price_subtotal_incl": round(subtotal + vat, 2),
                        "total_cost": round(qty * costs[item.index], 2) if costed else 0.0,
                        "is_total_cost_computed": costed,
                        "refunded_orderline_id": refunded,
                        "create_date": stamp,
                        "write_date": written,
                    },
                )
            )
            total += subtotal + vat
            tax += vat
            if counted and item.kind == STORABLE:
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
        day = run.day if seconds < DAY_S else run.day + ONE_DAY
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
        pool, horizon = store.refundable, run.day.toordinal() - REFUND_WINDOW
        while pool and pool[0][0] < horizon:
            pool.pop(0)
        if not pool:
            return
        _ordinal, line_id, item, qty, discount, partner = pool.pop(int(rng.random() * len(pool)))
        if not item.active:
            return
        back = qty if rng.random() < 0.7 else 1
        if item.kind == STORABLE:
            store.on_hand[item.index] += back
        self._order(run, seconds, "done" if run.closing else "paid", partner, [(item, -back, discount, line_id)])

    def _close(self, run: _Run, stop_s: int) -> None:
        """Closing: one delivery move per product sold, one return move per product brought back."""
        store, sim = run.store, self.sim
        assert run.closing is not None  # a session being closed has its stop time
        cost_day = run.day + ONE_DAY if stop_s >= DAY_S else run.day
        costs = sim.costs.prices(cost_day)
        customers = sim.company.customers_loc
        for moved, src, dest in ((run.out, store.stock_loc, customers), (run.back, customers, store.stock_loc)):
            if moved:
                lines = [
                    (item, qty, qty, False, costs[item.index])
                    for item, qty in sorted(moved.items(), key=lambda kv: kv[0].index)
                ]
                sim.stock.transfer(
                    name=sim.stock.picking_name(store, "POS"),
                    ptype=store.type_pos,
                    src=src,
                    dest=dest,
                    lines=lines,
                    when=run.closing,
                    created=run.closing,
                    cost_day=cost_day,
                    origin=run.name,
                    sync=False,
                )
