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
from tests.support.company import (
    assert_invoices_balance_with_odoo_signs,
    assert_pos_orders_add_up,
    assert_purchase_lines_and_receipts_agree,
    assert_quants_equal_the_sum_of_done_moves,
    rows,
)

END = dt.date(2026, 3, 31)  # the history spans the DST switch of 2026-03-29
TZ = ZoneInfo("Europe/Brussels")
VERSIONS = (16, 17, 18, 19)


def tiny(version: int = 17, **changes) -> DemoConfig:
    return DemoConfig(**{"version": version, "scale": "tiny", "days": 30, "end": END, **changes})


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"odoo{v}")
def company(request) -> Database:
    """The generated demo company of each version (tiny, 30 days to :data:`END`; read only)."""
    return generate(tiny(request.param))


def digest(db: Database) -> str:
    h = hashlib.sha256()
    for name in sorted(db.models):
        h.update(json.dumps([name, rows(db, name)], sort_keys=True).encode())
    return h.hexdigest()


def local(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).astimezone(TZ)


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


def test_records_match_the_schema(company):
    """Declared fields only, ids ascending, many2one targets exist, selections valid."""
    for name, model in company.models.items():
        assert list(model.records) == sorted(model.records), name
        assert model.next_id > max(model.records, default=0)
        stored = {f for f, spec in model.fields.items() if spec.store and spec.type != "one2many"}
        for record in model.records.values():
            assert set(record) <= stored, (name, set(record) - stored)
            for fname, value in record.items():
                spec = model.fields[fname]
                if spec.type == "many2one" and value is not False:
                    assert value in company.models[spec.relation].records, (name, record["id"], fname, value)
                if spec.type == "selection" and value is not False:
                    assert value in dict(spec.selection), (name, fname, value)


def test_dates_are_odoo_strings_and_never_in_the_future(company):
    now = str(company.now)
    for name in company.models:
        for record in rows(company, name):
            assert len(record["create_date"]) == 19 and record["create_date"] <= record["write_date"] <= now, name


def test_users_and_company(company):
    users = {u["id"]: u for u in rows(company, "res.users")}
    assert users[1]["login"] == "__system__" and not users[1]["active"]
    assert users[2]["login"] == "admin" and users[2]["tz"] == "Europe/Brussels"
    assert company.users["admin"].uid == 2 and company.users["admin"].password == "admin"
    assert company.users["admin"].api_key == "demo-api-key"
    assert all(u.allowed_models for login, u in company.users.items() if login != "admin")
    assert [c["name"] for c in rows(company, "res.currency")] == ["EUR"]
    assert company.now == dt.datetime(2026, 4, 1, 1, 0)  # 1 April 03:00 CEST


def test_category_tree_and_locations(company):
    categories = {c["id"]: c for c in rows(company, "product.category")}
    dairy = next(c for c in categories.values() if c["name"] == "Dairy")
    assert dairy["complete_name"] == "All / Food / Dairy"
    assert dairy["parent_path"] == f"1/{dairy['parent_id']}/{dairy['id']}/"
    usages = {loc["complete_name"]: loc["usage"] for loc in rows(company, "stock.location")}
    assert usages["Partners/Vendors"] == "supplier" and usages["Partners/Customers"] == "customer"
    assert usages["BRU/Stock"] == "internal" and usages["Virtual Locations/Scrap"] == "inventory"
    assert {t["code"] for t in rows(company, "stock.picking.type")} == {"incoming", "outgoing", "internal"}


# --------------------------------------------------------------------------- consistency


def test_quants_equal_the_sum_of_done_moves(company):
    assert_quants_equal_the_sum_of_done_moves(company)


def test_pos_orders_add_up(company):
    assert_pos_orders_add_up(company)


def test_invoices_balance_with_odoo_signs(company):
    assert_invoices_balance_with_odoo_signs(company)


def test_purchase_lines_and_receipts_agree(company):
    assert_purchase_lines_and_receipts_agree(company)


def test_total_cost_is_the_cost_in_effect_on_the_order_date(company):
    """The ETL's rule: unit_cost of the latest layer up to the end of the local day."""
    if company.version == 19:
        pytest.skip("no stock.valuation.layer in Odoo 19")
    layers = defaultdict(list)
    for layer in sorted(rows(company, "stock.valuation.layer"), key=lambda l: (l["create_date"], l["id"])):
        layers[layer["product_id"]].append(layer)
    price = {p["id"]: p["standard_price"] for p in rows(company, "product.product")}

    def cost(product: int, day: dt.date) -> float:
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), TZ).astimezone(dt.UTC)
        before = [l for l in layers[product] if l["create_date"] < end.strftime("%Y-%m-%d %H:%M:%S")]
        return before[-1]["unit_cost"] if before else price[product]

    orders = {o["id"]: o for o in rows(company, "pos.order")}
    costed = [l for l in rows(company, "pos.order.line") if l["is_total_cost_computed"]]
    assert costed
    for line in costed:
        day = local(orders[line["order_id"]]["date_order"]).date()
        assert line["total_cost"] == round(line["qty"] * cost(line["product_id"], day), 2), line
    changes = [l for l in rows(company, "stock.valuation.layer") if not l["stock_move_id"]]
    assert changes and all(l["quantity"] == 0 and l["value"] == 0 for l in changes)
    assert all(local(l["create_date"]).time() == dt.time() for l in changes)


# --------------------------------------------------------------------------- business-rule cases


def test_every_business_rule_case_is_present(company):
    orders = {o["id"]: o for o in rows(company, "pos.order")}
    lines = rows(company, "pos.order.line")
    moves = rows(company, "account.move")
    products = {p["id"]: p for p in rows(company, "product.product")}
    refunds = [l for l in lines if l["qty"] < 0]
    assert refunds and all(l["refunded_orderline_id"] and l["price_subtotal"] < 0 for l in refunds)
    assert any(l["discount"] > 0 for l in lines)
    invoiced = [o for o in orders.values() if o["account_move"]]
    assert invoiced and all(o["is_invoiced"] and o["partner_id"] for o in invoiced)
    by_id = {m["id"]: m for m in moves}
    assert all(by_id[o["account_move"]]["invoice_origin"] == o["name"] for o in invoiced)
    assert {"draft", "cancel"} <= {o["state"] for o in orders.values()}
    assert {"draft", "cancel", "posted"} <= {m["state"] for m in moves if m["move_type"] == "out_invoice"}
    assert {"draft", "sent", "cancel", "purchase", "done"} <= {p["state"] for p in rows(company, "purchase.order")}
    assert any(not products[l["product_id"]]["active"] for l in lines)
    assert any(o["partner_id"] is False for o in orders.values())
    assert any(not l["is_total_cost_computed"] and l["total_cost"] == 0 for l in lines)
    credit_notes = [m for m in moves if m["move_type"] == "out_refund"]
    assert credit_notes and all(by_id[m["reversed_entry_id"]]["move_type"] == "out_invoice" for m in credit_notes)
    assert any(m["move_type"] == "in_invoice" for m in moves)
    assert {"opened", "closing_control", "closed"} == {s["state"] for s in rows(company, "pos.session")}


def test_orders_around_local_midnight(company):
    late = [o for o in rows(company, "pos.order") if local(o["date_order"]).hour == 0]
    assert late and all(local(o["date_order"]).minute < 30 for o in late)
    assert all(local(o["date_order"]).date() != dt.date.fromisoformat(o["date_order"][:10]) for o in late)
    assert any(
        local(o["date_order"]).hour == 23 and local(o["date_order"]).minute >= 30 for o in rows(company, "pos.order")
    )


def test_late_edits_within_history(company):
    assert any(m["write_date"][:10] > m["date"] for m in rows(company, "account.move"))
    assert any(l["write_date"][:10] > l["create_date"][:10] for l in rows(company, "purchase.order.line"))


def test_stock_moves_of_every_kind(company):
    usage = {loc["id"]: loc["usage"] for loc in rows(company, "stock.location")}
    moves = rows(company, "stock.move")
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
    sessions = {s["name"] for s in rows(company, "pos.session")}
    assert any(m["origin"] in sessions for m in moves)


def test_version_specific_fields(company):
    product = rows(company, "product.product")[0]
    move = rows(company, "stock.move")[0]
    states = {o["state"] for o in rows(company, "pos.order")}
    if company.version == 16:
        assert "quantity_done" in move and "quantity" not in move
    else:
        assert "quantity" in move and "quantity_done" not in move
    if company.version <= 17:
        assert product["detailed_type"] in ("product", "consu", "service") and "is_storable" not in product
    else:
        assert "is_storable" in product and product["type"] in ("consu", "service")
    assert ("invoiced" in states) == (company.version <= 18)
    assert ("stock.valuation.layer" in company.models) == (company.version <= 18)


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
    assert_quants_equal_the_sum_of_done_moves(db)
    assert_pos_orders_add_up(db)
    assert_invoices_balance_with_odoo_signs(db)
    assert_purchase_lines_and_receipts_agree(db)


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
