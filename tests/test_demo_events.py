"""Events after the fact (re-dated invoices, deleted invoices, cancelled and deleted purchase
orders) as an Odoo client sees them afterwards over the real HTTP server, in 16-19."""

from __future__ import annotations

import datetime as dt

import pytest

from nkdash.demo import DemoServer
from nkdash.demo.generate import (
    Changes,
    DemoConfig,
    apply_late_edits,
    delete_invoices,
    delete_purchases,
    generate,
    redate_invoices,
)
from nkdash.demo.store import Database
from nkdash.errors import InputError
from tests.support.company import assert_consistent, digest
from tests.support.rpc import Rpc

VERSIONS = (16, 17, 18, 19)
END = dt.date(2026, 3, 31)
WHEN = dt.datetime(2026, 4, 1, 6, 15, 30, 250000)  # the event: after the nightly load, mid-second
SEEN = "2026-04-01 06:15:30"  # its write_date as Odoo reads it back
POSTED_INVOICES = [("move_type", "=", "out_invoice"), ("state", "=", "posted")]


def day_label(day: dt.date) -> str:
    return day.strftime("%d %b %Y")


def tiny(version: int) -> DemoConfig:
    return DemoConfig(version=version, scale="tiny", days=30, end=END)


@pytest.fixture(params=VERSIONS, ids=lambda v: f"odoo{v}")
def served(request):
    with DemoServer(generate(tiny(request.param))) as server:
        yield server


def warm_indexes(rpc: Rpc) -> None:
    """Queries that build the indexes the checks read, so that stale ones would show."""
    rpc("account.move", "search", domain=[("date", ">=", "2026-03-01"), ("date", "<", "2026-05-01")])
    rpc("account.move.line", "search_count", domain=[("move_id", "in", list(range(1, 500)))])
    rpc("stock.move", "search_count", domain=[("purchase_line_id", "!=", False)])
    rpc("purchase.order.line", "search_count", domain=[("order_id.state", "=", "purchase")])


# --------------------------------------------------------------------------- re-dated invoice


def test_a_redated_invoice_is_posted_again_on_its_new_date(served):
    rpc = Rpc(served)
    warm_indexes(rpc)
    per_day = rpc.counts("account.move", POSTED_INVOICES, "invoice_date:day")
    changes = redate_invoices(served.db, WHEN, days=4)

    [(move_id, (old, new))] = changes.redated.items()
    assert new - old == dt.timedelta(days=4) and new.weekday() < 5 and new < WHEN.date()
    [move] = rpc("account.move", "read", ids=[move_id], fields=["name", "state", "date", "invoice_date", "write_date"])
    assert move["state"] == "posted" and move["name"].startswith(f"INV/{new.year}/")
    assert move["date"] == move["invoice_date"] == new.isoformat() and move["write_date"] == SEEN
    lines = rpc(
        "account.move.line",
        "search_read",
        domain=[("move_id", "=", move_id)],
        fields=["date", "parent_state", "write_date"],
    )
    assert lines and {(l["date"], l["parent_state"], l["write_date"]) for l in lines} == {
        (new.isoformat(), "posted", SEEN)
    }
    assert changes.written == {"account.move": [move_id], "account.move.line": sorted(l["id"] for l in lines)}
    assert changes.deleted == {}

    assert move_id not in rpc("account.move", "search", domain=[("invoice_date", "=", old.isoformat())])
    assert move_id in rpc(
        "account.move", "search", domain=[("date", ">", old.isoformat()), ("date", "<=", new.isoformat())]
    )
    now_per_day = rpc.counts("account.move", POSTED_INVOICES, "invoice_date:day")
    assert now_per_day[day_label(old)] == per_day[day_label(old)] - 1
    assert now_per_day[day_label(new)] == per_day.get(day_label(new), 0) + 1
    assert rpc("account.move", "search", domain=[("write_date", ">=", SEEN)]) == [move_id]
    assert_consistent(served.db)


def test_an_invoice_moves_back_too_and_never_out_of_history():
    db = generate(tiny(17))
    changes = redate_invoices(db, WHEN, n=100, days=-3, seed=1)
    assert len(changes.redated) > 1
    first = min(m["date"] for m in db.models["account.move"].records.values())
    for old, new in changes.redated.values():
        assert new == old - dt.timedelta(days=3) and new.isoformat() >= first and new.weekday() < 5
    assert_consistent(db)
    with pytest.raises(InputError):
        redate_invoices(db, WHEN, days=0)


# --------------------------------------------------------------------------- deleted invoice


def test_a_deleted_invoice_and_its_lines_are_gone(served):
    rpc = Rpc(served)
    warm_indexes(rpc)
    moves, lines = rpc("account.move", "search_count", domain=[]), rpc("account.move.line", "search_count", domain=[])
    per_state = rpc.counts("account.move", [("move_type", "=", "out_invoice")], "state")
    changes = delete_invoices(served.db, WHEN)

    [move_id] = changes.deleted["account.move"]
    gone_lines = changes.deleted["account.move.line"]
    assert changes.written == {} and changes.redated == {} and gone_lines
    assert rpc("account.move", "search_count", domain=[]) == moves - 1
    assert rpc("account.move.line", "search_count", domain=[]) == lines - len(gone_lines)
    assert rpc("account.move", "search", domain=[("id", "=", move_id)]) == []
    assert rpc("account.move", "read", ids=[move_id], fields=["name"]) == []
    assert rpc("account.move.line", "search", domain=[("move_id", "=", move_id)]) == []
    assert rpc("account.move.line", "search", domain=[("id", "in", gone_lines)]) == []
    assert rpc.counts("account.move", [("move_type", "=", "out_invoice")], "state") == {
        **per_state,
        "posted": per_state["posted"] - 1,
    }
    with pytest.raises(LookupError) as missing:
        rpc("account.move", "write", ids=[move_id], vals={"invoice_origin": "x"})
    assert missing.value.args[0] == (404 if served.db.version >= 19 else 2)
    assert_consistent(served.db)


def test_only_invoices_odoo_lets_a_user_delete_are_deleted():
    """Posted customer invoices of past days, not made from a POS order, not reversed."""
    db = generate(tiny(18))
    moves = db.models["account.move"].records
    changes = delete_invoices(db, WHEN, n=1000)
    assert len(changes.deleted["account.move"]) > 10
    from_pos = {o["account_move"] for o in db.models["pos.order"].records.values()}
    reversed_ = {m["reversed_entry_id"] for m in moves.values()}
    left = [m for m in moves.values() if m["move_type"] == "out_invoice" and m["state"] == "posted"]
    assert left and all(m["id"] in from_pos or m["id"] in reversed_ for m in left)
    assert all(line["move_id"] in moves for line in db.models["account.move.line"].records.values())
    assert_consistent(db)


# --------------------------------------------------------------------------- cancelled and deleted purchase order


def test_a_cancelled_purchase_order_is_deleted_and_its_receipt_cancelled(served):
    rpc = Rpc(served)
    warm_indexes(rpc)
    qf = "quantity_done" if served.db.version == 16 else "quantity"
    per_state = rpc.counts("purchase.order", [], "state")
    quants = rpc("stock.quant", "search_read", domain=[], fields=["quantity", "write_date"])
    changes = delete_purchases(served.db, WHEN)

    [order_id] = changes.deleted["purchase.order"]
    order_lines = changes.deleted["purchase.order.line"]
    assert rpc("purchase.order", "search", domain=[("id", "=", order_id)]) == []
    assert rpc("purchase.order", "read", ids=[order_id], fields=["name"]) == []
    assert rpc("purchase.order.line", "search", domain=[("order_id", "=", order_id)]) == []
    assert rpc("purchase.order.line", "search_count", domain=[("id", "in", order_lines)]) == 0
    assert rpc.counts("purchase.order", [], "state") == {**per_state, "purchase": per_state["purchase"] - 1}

    moves = rpc(
        "stock.move",
        "read",
        ids=changes.written["stock.move"],
        fields=["state", qf, "purchase_line_id", "picking_id", "write_date"],
    )
    assert moves and all(
        m["state"] == "cancel" and m[qf] == 0 and m["purchase_line_id"] is False and m["write_date"] == SEEN
        for m in moves
    )
    pickings = rpc("stock.picking", "read", ids=changes.written["stock.picking"], fields=["state", "origin"])
    assert {p["id"] for p in pickings} == {m["picking_id"][0] for m in moves}
    assert all(p["state"] == "cancel" for p in pickings)
    assert rpc("stock.move", "search", domain=[("purchase_line_id", "in", order_lines)]) == []
    assert rpc("stock.quant", "search_read", domain=[], fields=["quantity", "write_date"]) == quants
    assert_consistent(served.db)


def test_only_orders_odoo_lets_a_user_cancel_are_deleted():
    """Confirmed orders with no done receipt and no vendor bill: the others stay."""
    db = generate(tiny(16))
    changes = delete_purchases(db, WHEN, n=1000)
    assert changes.deleted["purchase.order"]
    orders = db.models["purchase.order"].records
    billed = {m["invoice_origin"] for m in db.models["account.move"].records.values() if m["move_type"] == "in_invoice"}
    received = {
        db.models["purchase.order.line"].records[m["purchase_line_id"]]["order_id"]
        for m in db.models["stock.move"].records.values()
        if m["purchase_line_id"] and m["state"] == "done"
    }
    confirmed = [o for o in orders.values() if o["state"] in ("purchase", "done")]
    assert confirmed and all(o["name"] in billed or o["id"] in received for o in confirmed)
    assert "cancel" in {o["state"] for o in orders.values()}  # the generated ones are still there
    assert_consistent(db)


# --------------------------------------------------------------------------- all together


@pytest.mark.parametrize("version", VERSIONS)
def test_events_and_late_edits_together_stay_consistent_and_deterministic(version):
    def play(db: Database) -> list:
        return [
            redate_invoices(db, WHEN, n=3, seed=5),
            delete_invoices(db, WHEN, n=3, seed=5),
            delete_purchases(db, WHEN, n=3, seed=5),
            apply_late_edits(db, WHEN, n=3, seed=5),
            delete_invoices(db, WHEN + dt.timedelta(hours=1), n=2, seed=6),
        ]

    one, two = generate(tiny(version)), generate(tiny(version))
    outcomes = play(one)
    assert outcomes == play(two) and digest(one) == digest(two)
    assert all(isinstance(o, Changes) and (o.written or o.deleted) for o in outcomes if o is not outcomes[3])
    assert one.now == WHEN + dt.timedelta(hours=1)
    assert_consistent(one)
