"""Late edits: past records changed the way Odoo users change them after a nightly load."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from zoneinfo import ZoneInfo

from nkdash.demo.generate.base import Record
from nkdash.demo.generate.catalogue import ONE_DAY
from nkdash.demo.generate.invoicing import account_move
from nkdash.demo.store import Database, fmt_datetime, fmt_stamp


def apply_late_edits(db: Database, when: dt.datetime, n: int = 5, seed: int = 0) -> dict[str, list[int]]:
    """Change past records the way Odoo users do after a nightly load; returns model -> ids.

    ``n`` edits of each kind: a discount given afterwards on old POS order lines, the
    closing of sessions left open (lines get their cost, deliveries are made), posted
    invoices cancelled, credit notes posted with an old date, receipts whose quantity is
    corrected. Every edited or created record gets ``write_date = when`` (with its
    microseconds, if any: see :mod:`nkdash.demo.store`); order and invoice totals, quants
    and valuation layers stay consistent. A server serving ``db`` answers no call meanwhile.
    """
    with db.lock:
        edits = LateEdits(db, when, random.Random(seed))
        for kind in (
            edits.discount_pos_lines,
            edits.close_open_sessions,
            edits.cancel_invoices,
            edits.backdated_credit_notes,
            edits.correct_receipts,
        ):
            kind(n)
        edits.finish()
    return edits.summary()


class LateEdits:
    """Finds candidates in a database and edits them as users do after the fact."""

    def __init__(self, db: Database, when: dt.datetime, rng: random.Random):
        self.db = db
        self.rng = rng
        self.when = when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when
        self.stamp = fmt_datetime(self.when)  # datetimes Odoo sets (Datetime.now(): whole seconds)
        self.written = fmt_stamp(self.when)  # write_date: the transaction's clock, microseconds kept
        tz = ZoneInfo(db.company_tz)
        self.today = self.when.replace(tzinfo=dt.UTC).astimezone(tz).date()
        self.qty_field = "quantity_done" if db.version == 16 else "quantity"
        self.changed: defaultdict[str, set[int]] = defaultdict(set)
        self._quants: dict[tuple[int, int], Record] | None = None

    # -- helpers

    def _all(self, model: str) -> dict[int, Record]:
        return self.db.models[model].records

    def finish(self) -> None:
        """The database's clock reaches ``when``; the server's indexes are rebuilt."""
        self.db.now = max(self.db.now, self.when)
        self.db.notify()  # records changed in place

    def summary(self) -> dict[str, list[int]]:
        """model -> ids of the records edited or created."""
        return {model: sorted(ids) for model, ids in self.changed.items()}

    def _write(self, model: str, record: Record, values: Record) -> None:
        record.update(values)
        record["write_date"] = self.written
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
        numbers = [
            int(r["name"][len(prefix) :])
            for r in self._all(model).values()
            if r["name"] and r["name"].startswith(prefix) and r["name"][len(prefix) :].isdigit()
        ]
        return max(numbers, default=0) + 1

    # -- POS

    def discount_pos_lines(self, n: int) -> None:
        """A discount granted afterwards on lines of paid, not invoiced orders of past days."""
        orders = self._all("pos.order")
        lines_of = self._children("pos.order.line", "order_id")
        cutoff = fmt_datetime(self.when - ONE_DAY)
        candidates = [
            line
            for line in self._all("pos.order.line").values()
            if line["qty"] > 0
            and line["discount"] <= 40
            and line["price_subtotal"] > 0
            and is_paid_pos(orders[line["order_id"]])
            and orders[line["order_id"]]["date_order"] < cutoff
        ]
        for line in self._pick(candidates, n):
            rate = vat_rate(line["price_subtotal"], line["price_subtotal_incl"])
            discount = line["discount"] + 10.0
            subtotal = round(line["qty"] * line["price_unit"] * (1 - discount / 100), 2)
            self._write(
                "pos.order.line",
                line,
                {
                    "discount": discount,
                    "price_subtotal": subtotal,
                    "price_subtotal_incl": round(subtotal + round(subtotal * rate, 2), 2),
                },
            )
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
                self._write(
                    "pos.order.line",
                    line,
                    {"total_cost": round(line["qty"] * product["standard_price"], 2), "is_total_cost_computed": True},
                )
                if is_storable(product, self.db.version):
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
        picking = self._create(
            "stock.picking",
            {
                "name": name,
                "origin": origin,
                "picking_type_id": ptype,
                "partner_id": False,
                "location_id": src,
                "location_dest_id": dest,
                "state": "done",
                "scheduled_date": self.stamp,
                "date_done": self.stamp,
            },
        )
        internal_src = self._is_internal(src)
        for product_id, qty in sorted(quantities.items()):
            product = products[product_id]
            move = self._create(
                "stock.move",
                {
                    "name": f"[{product['default_code']}] {product['name']}",
                    "reference": name,
                    "origin": origin,
                    "product_id": product_id,
                    "product_uom_qty": qty,
                    self.qty_field: qty,
                    "location_id": src,
                    "location_dest_id": dest,
                    "state": "done",
                    "date": self.stamp,
                    "picking_id": picking,
                    "picking_type_id": ptype,
                    "purchase_line_id": False,
                    "price_unit": product["standard_price"],
                    "scrapped": False,
                    "is_inventory": False,
                    "company_id": 1,
                },
            )
            self._bump_quant(product_id, src if internal_src else dest, -qty if internal_src else qty)
            if "stock.valuation.layer" in self.db.models:
                signed, cost = (-qty if internal_src else qty), product["standard_price"]
                self._create(
                    "stock.valuation.layer",
                    {
                        "product_id": product_id,
                        "stock_move_id": move,
                        "company_id": 1,
                        "description": f"{name} - [{product['default_code']}] {product['name']}",
                        "quantity": signed,
                        "unit_cost": cost,
                        "value": round(signed * cost, 2),
                    },
                )

    def _is_internal(self, location: int) -> bool:
        return bool(self._all("stock.location")[location]["usage"] == "internal")

    def _quant_index(self) -> dict[tuple[int, int], Record]:
        if self._quants is None:
            self._quants = {(q["product_id"], q["location_id"]): q for q in self._all("stock.quant").values()}
        return self._quants

    def _bump_quant(self, product: int, location: int, delta: float) -> None:
        quants = self._quant_index()
        quant = quants.get((product, location))
        if quant is None:
            rid = self._create(
                "stock.quant",
                {
                    "product_id": product,
                    "location_id": location,
                    "company_id": 1,
                    "quantity": delta,
                    "reserved_quantity": 0.0,
                    "in_date": self.stamp,
                },
            )
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
        return [
            m
            for m in moves.values()
            if m["move_type"] == "out_invoice"
            and m["state"] == "posted"
            and m["id"] not in from_pos
            and m["id"] not in reversed_
            and m["date"] < cutoff
        ]

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
            day = min(day, self.today - ONE_DAY)
            spec = [
                (
                    l["product_id"],
                    l["name"],
                    l["quantity"],
                    l["price_unit"],
                    l["discount"],
                    vat_rate(l["price_subtotal"], l["price_total"]),
                )
                for l in lines_of[invoice["id"]]
                if l["display_type"] == "product"
            ]
            name = f"RINV/{day.year}/{self._next_number('account.move', f'RINV/{day.year}/'):05d}"
            move, lines = account_move(
                "out_refund", name, "posted", invoice["partner_id"], day.isoformat(), spec, reversed_id=invoice["id"]
            )
            move_id = self._create("account.move", move)
            for line in lines:
                self._create("account.move.line", {**line, "move_id": move_id})

    # -- purchases

    def correct_receipts(self, n: int) -> None:
        """A received quantity turns out one unit short."""
        locations, qf, quants = self._all("stock.location"), self.qty_field, self._quant_index()
        candidates = [
            m
            for m in self._all("stock.move").values()
            if m["state"] == "done"
            and m["purchase_line_id"]
            and m[qf] >= 2
            and locations[m["location_id"]]["usage"] == "supplier"
            and quants.get((m["product_id"], m["location_dest_id"]), {}).get("quantity", 0) >= 1
        ]
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
            self._write("purchase.order", order, {"invoice_status": invoice_status(lines_of[order["id"]])})


def is_paid_pos(order: Record) -> bool:
    return order["state"] in ("paid", "done") and not order["account_move"]


def is_storable(product: Record, version: int) -> bool:
    return product.get("detailed_type") == "product" if version <= 17 else bool(product.get("is_storable"))


def vat_rate(subtotal: float, total: float) -> float:
    """The VAT rate (6 % or 21 %) that turned ``subtotal`` into ``total``."""
    ratio = (total - subtotal) / subtotal if subtotal else 0.0
    return min((0.06, 0.21), key=lambda rate: abs(rate - ratio))


def invoice_status(lines: list[Record]) -> str:
    if any(l["qty_received"] != l["qty_invoiced"] for l in lines):
        return "to invoice"
    return "invoiced" if any(l["qty_invoiced"] for l in lines) else "no"
