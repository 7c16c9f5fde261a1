"""The generated demo company: its digest, and the consistency checks every generated or
changed database must pass (stock, POS, invoices, purchases agree with each other)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

import pytest

from nkdash.demo.store import Database


def rows(db: Database, model: str) -> list[dict]:
    return list(db.models[model].records.values())


def qty_field(db: Database) -> str:
    return "quantity_done" if db.version == 16 else "quantity"


def digest(db: Database) -> str:
    """Everything a server would serve: header, users, and every model's records and next id."""
    h = hashlib.sha256()
    h.update(json.dumps([db.name, db.version, db.company_tz, str(db.now)]).encode())
    users = sorted((u.login, u.password, u.uid, u.api_key, sorted(u.allowed_models or ())) for u in db.users.values())
    h.update(json.dumps(users).encode())
    for name in sorted(db.models):
        model = db.models[name]
        h.update(json.dumps([name, model.next_id, list(model.records.values())], sort_keys=True).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- consistency


def assert_quants_equal_the_sum_of_done_moves(db: Database) -> None:
    usage = {loc["id"]: loc["usage"] for loc in rows(db, "stock.location")}
    qf = qty_field(db)
    expected = defaultdict(float)
    for move in rows(db, "stock.move"):
        if move["state"] == "done":
            if usage[move["location_id"]] == "internal":
                expected[move["product_id"], move["location_id"]] -= move[qf]
            if usage[move["location_dest_id"]] == "internal":
                expected[move["product_id"], move["location_dest_id"]] += move[qf]
    quants = {(q["product_id"], q["location_id"]): q["quantity"] for q in rows(db, "stock.quant")}
    assert {k: v for k, v in expected.items() if v} == {k: v for k, v in quants.items() if v}
    assert all(q >= 0 for q in quants.values())


def assert_pos_orders_add_up(db: Database) -> None:
    lines = defaultdict(list)
    for line in rows(db, "pos.order.line"):
        subtotal = round(line["qty"] * line["price_unit"] * (1 - line["discount"] / 100), 2)
        assert line["price_subtotal"] == subtotal
        assert abs(line["price_subtotal_incl"]) >= abs(subtotal)
        lines[line["order_id"]].append(line)
    for order in rows(db, "pos.order"):
        mine = lines[order["id"]]
        assert order["amount_total"] == pytest.approx(sum(l["price_subtotal_incl"] for l in mine), abs=0.005)
        assert order["amount_tax"] == pytest.approx(
            sum(l["price_subtotal_incl"] - l["price_subtotal"] for l in mine), abs=0.005
        )
        paid = order["state"] in ("paid", "done", "invoiced")
        assert order["amount_paid"] == (order["amount_total"] if paid else 0.0)


def assert_invoices_balance_with_odoo_signs(db: Database) -> None:
    lines = defaultdict(list)
    for line in rows(db, "account.move.line"):
        lines[line["move_id"]].append(line)
    sign = {"out_invoice": -1, "out_refund": 1, "in_invoice": 1}
    for move in rows(db, "account.move"):
        mine = lines[move["id"]]
        products = [l for l in mine if l["display_type"] == "product"]
        assert {l["display_type"] for l in mine} == {"product", "tax", "payment_term"}
        assert sum(l["balance"] for l in mine) == pytest.approx(0, abs=1e-6)
        assert all(l["quantity"] > 0 and l["price_subtotal"] > 0 for l in products)
        assert all(l["balance"] == sign[move["move_type"]] * l["price_subtotal"] for l in products)
        assert all(l[f] == move[f] for l in mine for f in ("move_type", "date", "partner_id"))
        assert all(l["parent_state"] == move["state"] for l in mine)
        assert move["amount_untaxed"] == pytest.approx(sum(l["price_subtotal"] for l in products), abs=0.005)
        assert move["invoice_date"] == move["date"]
        signed = -1 if move["move_type"] in ("out_refund", "in_invoice") else 1
        assert move["amount_untaxed_signed"] == signed * move["amount_untaxed"]


def assert_purchase_lines_and_receipts_agree(db: Database) -> None:
    qf = qty_field(db)
    received = defaultdict(float)
    for move in rows(db, "stock.move"):
        if move["purchase_line_id"] and move["state"] == "done":
            received[move["purchase_line_id"]] += move[qf]
    lines = defaultdict(list)
    for line in rows(db, "purchase.order.line"):
        assert line["qty_received"] == received.get(line["id"], 0.0)
        lines[line["order_id"]].append(line)
    for order in rows(db, "purchase.order"):
        assert bool(order["date_approve"]) == (order["state"] in ("purchase", "done"))
        unbilled = any(l["qty_received"] != l["qty_invoiced"] for l in lines[order["id"]])
        assert (order["invoice_status"] == "to invoice") == unbilled


def assert_consistent(db: Database) -> None:
    for check in (
        assert_invoices_balance_with_odoo_signs,
        assert_purchase_lines_and_receipts_agree,
        assert_quants_equal_the_sum_of_done_moves,
        assert_pos_orders_add_up,
    ):
        check(db)
