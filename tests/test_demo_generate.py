"""The demo company generator: determinism, consistency, business-rule cases, versions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest

from nkdash.demo.generate import SCALES, DemoConfig, apply_late_edits, generate, iter_days
from nkdash.demo.store import Database
from nkdash.errors import InputError

END = dt.date(2026, 3, 31)  # the history spans the DST switch of 2026-03-29
TZ = ZoneInfo("Europe/Brussels")
VERSIONS = (16, 17, 18, 19)


def tiny(version: int = 17, **changes) -> DemoConfig:
    return DemoConfig(**{"version": version, "scale": "tiny", "days": 30, "end": END, **changes})


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"odoo{v}")
def db(request) -> Database:
    return generate(tiny(request.param))


def rows(db: Database, model: str) -> list[dict]:
    return list(db.models[model].records.values())


def digest(db: Database) -> str:
    h = hashlib.sha256()
    for name in sorted(db.models):
        h.update(json.dumps([name, rows(db, name)], sort_keys=True).encode())
    return h.hexdigest()


def local(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).astimezone(TZ)


def qty_field(db: Database) -> str:
    return "quantity_done" if db.version == 16 else "quantity"


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize("version", VERSIONS)
def test_same_seed_same_database_other_seed_other_database(version):
    assert digest(generate(tiny(version))) == digest(generate(tiny(version)))
    assert digest(generate(tiny(version))) != digest(generate(tiny(version, seed=7)))


def test_iter_days_streams_what_generate_loads():
    db = generate(tiny(days=10))
    streamed = defaultdict(list)
    batches = list(iter_days(tiny(days=10)))
    assert [day for day, _batch in batches] == [None, *(END - dt.timedelta(days=k) for k in range(9, -1, -1)), None]
    for _day, batch in batches:
        for model, records in batch.items():
            streamed[model] += records
    assert dict(streamed.items()) == {m: rows(db, m) for m in db.models if rows(db, m)}


# --------------------------------------------------------------------------- shape


def test_records_match_the_schema(db):
    """Declared fields only, ids ascending, many2one targets exist, selections valid."""
    for name, model in db.models.items():
        assert list(model.records) == sorted(model.records), name
        assert model.next_id > max(model.records, default=0)
        stored = {f for f, spec in model.fields.items() if spec.store and spec.type != "one2many"}
        for record in model.records.values():
            assert set(record) <= stored, (name, set(record) - stored)
            for fname, value in record.items():
                spec = model.fields[fname]
                if spec.type == "many2one" and value is not False:
                    assert value in db.models[spec.relation].records, (name, record["id"], fname, value)
                if spec.type == "selection" and value is not False:
                    assert value in dict(spec.selection), (name, fname, value)


def test_dates_are_odoo_strings_and_never_in_the_future(db):
    now = str(db.now)
    for name in db.models:
        for record in rows(db, name):
            assert len(record["create_date"]) == 19 and record["create_date"] <= record["write_date"] <= now, name


def test_users_and_company(db):
    users = {u["id"]: u for u in rows(db, "res.users")}
    assert users[1]["login"] == "__system__" and not users[1]["active"]
    assert users[2]["login"] == "admin" and users[2]["tz"] == "Europe/Brussels"
    assert db.users["admin"].uid == 2 and db.users["admin"].password == "admin"
    assert db.users["admin"].api_key == "demo-api-key"
    assert all(u.allowed_models for login, u in db.users.items() if login != "admin")
    assert [c["name"] for c in rows(db, "res.currency")] == ["EUR"]
    assert db.now == dt.datetime(2026, 4, 1, 1, 0)  # 1 April 03:00 CEST


def test_category_tree_and_locations(db):
    categories = {c["id"]: c for c in rows(db, "product.category")}
    dairy = next(c for c in categories.values() if c["name"] == "Dairy")
    assert dairy["complete_name"] == "All / Food / Dairy"
    assert dairy["parent_path"] == f"1/{dairy['parent_id']}/{dairy['id']}/"
    usages = {loc["complete_name"]: loc["usage"] for loc in rows(db, "stock.location")}
    assert usages["Partners/Vendors"] == "supplier" and usages["Partners/Customers"] == "customer"
    assert usages["BRU/Stock"] == "internal" and usages["Virtual Locations/Scrap"] == "inventory"
    assert {t["code"] for t in rows(db, "stock.picking.type")} == {"incoming", "outgoing", "internal"}


# --------------------------------------------------------------------------- consistency


def test_quants_equal_the_sum_of_done_moves(db):
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


def test_pos_orders_add_up(db):
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


def test_invoices_balance_with_odoo_signs(db):
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


def test_purchase_lines_and_receipts_agree(db):
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


def test_total_cost_is_the_cost_in_effect_on_the_order_date(db):
    """The ETL's rule: unit_cost of the latest layer up to the end of the local day."""
    if db.version == 19:
        pytest.skip("no stock.valuation.layer in Odoo 19")
    layers = defaultdict(list)
    for layer in sorted(rows(db, "stock.valuation.layer"), key=lambda l: (l["create_date"], l["id"])):
        layers[layer["product_id"]].append(layer)
    price = {p["id"]: p["standard_price"] for p in rows(db, "product.product")}

    def cost(product: int, day: dt.date) -> float:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), TZ).astimezone(dt.UTC)
        before = [l for l in layers[product] if l["create_date"] < end.strftime("%Y-%m-%d %H:%M:%S")]
        return before[-1]["unit_cost"] if before else price[product]

    orders = {o["id"]: o for o in rows(db, "pos.order")}
    costed = [l for l in rows(db, "pos.order.line") if l["is_total_cost_computed"]]
    assert costed
    for line in costed:
        day = local(orders[line["order_id"]]["date_order"]).date()
        assert line["total_cost"] == round(line["qty"] * cost(line["product_id"], day), 2), line
    changes = [l for l in rows(db, "stock.valuation.layer") if not l["stock_move_id"]]
    assert changes and all(l["quantity"] == 0 and l["value"] == 0 for l in changes)
    assert all(local(l["create_date"]).time() == dt.time() for l in changes)


# --------------------------------------------------------------------------- business-rule cases


def test_every_business_rule_case_is_present(db):
    orders = {o["id"]: o for o in rows(db, "pos.order")}
    lines = rows(db, "pos.order.line")
    moves = rows(db, "account.move")
    products = {p["id"]: p for p in rows(db, "product.product")}
    refunds = [l for l in lines if l["qty"] < 0]
    assert refunds and all(l["refunded_orderline_id"] and l["price_subtotal"] < 0 for l in refunds)
    assert any(l["discount"] > 0 for l in lines)
    invoiced = [o for o in orders.values() if o["account_move"]]
    assert invoiced and all(o["is_invoiced"] and o["partner_id"] for o in invoiced)
    by_id = {m["id"]: m for m in moves}
    assert all(by_id[o["account_move"]]["invoice_origin"] == o["name"] for o in invoiced)
    assert {"draft", "cancel"} <= {o["state"] for o in orders.values()}
    assert {"draft", "cancel", "posted"} <= {m["state"] for m in moves if m["move_type"] == "out_invoice"}
    assert {"draft", "sent", "cancel", "purchase", "done"} <= {p["state"] for p in rows(db, "purchase.order")}
    assert any(not products[l["product_id"]]["active"] for l in lines)
    assert any(o["partner_id"] is False for o in orders.values())
    assert any(not l["is_total_cost_computed"] and l["total_cost"] == 0 for l in lines)
    credit_notes = [m for m in moves if m["move_type"] == "out_refund"]
    assert credit_notes and all(by_id[m["reversed_entry_id"]]["move_type"] == "out_invoice" for m in credit_notes)
    assert any(m["move_type"] == "in_invoice" for m in moves)
    assert {"opened", "closing_control", "closed"} == {s["state"] for s in rows(db, "pos.session")}


def test_orders_around_local_midnight(db):
    late = [o for o in rows(db, "pos.order") if local(o["date_order"]).hour == 0]
    assert late and all(local(o["date_order"]).minute < 30 for o in late)
    assert all(local(o["date_order"]).date() != dt.date.fromisoformat(o["date_order"][:10]) for o in late)
    assert any(local(o["date_order"]).hour == 23 and local(o["date_order"]).minute >= 30 for o in rows(db, "pos.order"))


def test_late_edits_within_history(db):
    assert any(m["write_date"][:10] > m["date"] for m in rows(db, "account.move"))
    assert any(l["write_date"][:10] > l["create_date"][:10] for l in rows(db, "purchase.order.line"))


def test_stock_moves_of_every_kind(db):
    usage = {loc["id"]: loc["usage"] for loc in rows(db, "stock.location")}
    moves = rows(db, "stock.move")
    kinds = {(usage[m["location_id"]], usage[m["location_dest_id"]]) for m in moves if m["state"] == "done"}
    assert {
        ("supplier", "internal"),
        ("internal", "customer"),
        ("customer", "internal"),
        ("internal", "internal"),
        ("inventory", "internal"),
        ("internal", "inventory"),
    } <= kinds
    assert any(m["scrapped"] for m in moves) and any(m["is_inventory"] for m in moves)
    assert {"done", "assigned", "cancel"} <= {m["state"] for m in moves}
    sessions = {s["name"] for s in rows(db, "pos.session")}
    assert any(m["origin"] in sessions for m in moves)


def test_version_specific_fields(db):
    product = rows(db, "product.product")[0]
    move = rows(db, "stock.move")[0]
    states = {o["state"] for o in rows(db, "pos.order")}
    if db.version == 16:
        assert "quantity_done" in move and "quantity" not in move
    else:
        assert "quantity" in move and "quantity_done" not in move
    if db.version <= 17:
        assert product["detailed_type"] in ("product", "consu", "service") and "is_storable" not in product
    else:
        assert "is_storable" in product and product["type"] in ("consu", "service")
    assert ("invoiced" in states) == (db.version <= 18)
    assert ("stock.valuation.layer" in db.models) == (db.version <= 18)


# --------------------------------------------------------------------------- late edits


@pytest.mark.parametrize("version", VERSIONS)
def test_apply_late_edits_keeps_everything_consistent(version):
    db = generate(tiny(version))
    when = dt.datetime(2026, 4, 1, 7, 30)
    changed = apply_late_edits(db, when, n=3)
    stamp = "2026-04-01 07:30:00"
    assert db.now == when
    assert {"pos.order.line", "pos.order", "pos.session", "account.move", "stock.move", "stock.quant"} <= set(changed)
    for model, ids in changed.items():
        assert all(db.models[model].records[i]["write_date"] == stamp for i in ids), model
    sessions = db.models["pos.session"].records
    assert all(s["state"] == "closed" for s in sessions.values())
    assert all(
        l["is_total_cost_computed"] or db.models["pos.order"].records[l["order_id"]]["state"] == "cancel"
        for l in rows(db, "pos.order.line")
    )
    credit_notes = [
        db.models["account.move"].records[i]
        for i in changed["account.move"]
        if db.models["account.move"].records[i]["move_type"] == "out_refund"
    ]
    assert credit_notes and all(m["date"] < "2026-04-01" and m["create_date"] == stamp for m in credit_notes)
    test_quants_equal_the_sum_of_done_moves(db)
    test_pos_orders_add_up(db)
    test_invoices_balance_with_odoo_signs(db)
    test_purchase_lines_and_receipts_agree(db)


def test_late_edits_are_deterministic():
    one, two = generate(tiny()), generate(tiny())
    when = dt.datetime(2026, 4, 1, 7, 30, tzinfo=dt.UTC)
    assert apply_late_edits(one, when, seed=3) == apply_late_edits(two, when, seed=3)
    assert digest(one) == digest(two)


# --------------------------------------------------------------------------- config and speed


def test_bad_config_is_refused():
    with pytest.raises(InputError):
        DemoConfig(version=15)
    with pytest.raises(InputError):
        DemoConfig(scale="huge")
    with pytest.raises(InputError):
        DemoConfig(days=0)
    assert "password" not in repr(DemoConfig()) and "api_key" not in repr(DemoConfig())


def test_scales():
    assert {"tiny", "small", "medium", "full"} <= set(SCALES)
    assert SCALES["full"].stores == 20 and SCALES["full"].products == 5000


def test_tiny_is_quick():
    started = time.perf_counter()
    db = generate(DemoConfig(scale="tiny", end=END))
    elapsed = time.perf_counter() - started
    print(f"tiny, 60 days: {elapsed:.2f} s, {sum(len(m.records) for m in db.models.values())} records")
    assert elapsed < 5


def test_default_end_is_yesterday():
    db = generate(DemoConfig(scale="tiny", days=2))
    yesterday = dt.datetime.now(TZ).date() - dt.timedelta(days=1)
    assert max(local(o["date_order"]).date() for o in rows(db, "pos.order")) == yesterday
