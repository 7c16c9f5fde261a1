"""Odoo domains over the demo store: every operator, prefix logic, paths, nulls, indexes."""

import random
import re

import pytest

from nkdash.demo.domain import AND, Domains, Indexes, dict_predicate, normalize
from tests.support.shop import shop_db


@pytest.fixture(scope="module")
def shop():
    """The shop database of Odoo 17 (read only)."""
    return shop_db(17)


def search(db, model, domain, **context):
    return Domains(db, Indexes(), context).ids(db.models[model], domain)


CASES = [
    # comparison operators
    ("pos.order", [("state", "=", "paid")], [1, 5]),
    ("pos.order", [("state", "!=", "paid")], [2, 3, 4]),
    ("pos.order", [("amount_total", ">", 2)], [1, 3]),
    ("pos.order", [("amount_total", ">=", 2)], [1, 2, 3]),
    ("pos.order", [("amount_total", "<", 1.2)], [5]),
    ("pos.order", [("amount_total", "<=", 1.2)], [4, 5]),
    ("pos.order", [("amount_total", ">", "2")], [1, 3]),
    ("pos.order", [("partner_id", "=?", False)], [1, 2, 3, 4, 5]),
    ("pos.order", [("partner_id", "=?", 2)], [1, 5]),
    # patterns
    ("res.partner", [("name", "like", "Free")], [2]),
    ("res.partner", [("name", "like", "free")], []),
    ("res.partner", [("name", "ilike", "free")], [2]),
    ("res.partner", [("name", "not like", "Free")], [1]),
    ("res.partner", [("name", "not ilike", "FREE")], [1]),
    ("res.partner", [("name", "=like", "B%")], [2]),
    ("res.partner", [("name", "=like", "b%")], []),
    ("res.partner", [("name", "=ilike", "b%n")], [2]),
    ("res.partner", [("name", "ilike", "a_ure")], [1]),
    ("res.partner", [("email", "not ilike", "azure")], [2]),  # unset matches a negative
    ("res.partner", [("email", "ilike", "example")], [1]),
    # lists
    ("pos.order", [("state", "in", ["paid", "done"])], [1, 2, 5]),
    ("pos.order", [("state", "not in", ["paid", "done"])], [3, 4]),
    ("pos.order", [("state", "in", [])], []),
    ("pos.order", [("partner_id", "in", [1, False])], [2, 3]),
    ("pos.order", [("partner_id", "not in", [1])], [1, 2, 4, 5]),  # unset matches not in
    ("pos.order", [("partner_id", "in", [3])], [4]),  # inactive partner still counts
    # False is null
    ("pos.order", [("partner_id", "=", False)], [2]),
    ("pos.order", [("partner_id", "!=", False)], [1, 3, 4, 5]),
    ("res.partner", [("email", "=", False)], [2]),
    ("product.product", [("sale_ok", "=", False)], [4]),
    ("product.product", [("sale_ok", "!=", False)], [1, 2, 3]),
    ("pos.order", [("amount_tax", "=", False)], []),  # numbers are never null
    ("pos.order", [("lines", "=", False)], []),
    # hierarchies
    ("product.product", [("categ_id", "child_of", 2)], [1, 2, 4]),
    ("product.product", [("categ_id", "child_of", [3, 4])], [1, 2, 3]),
    ("product.product", [("categ_id", "child_of", "Food")], [1, 2, 4]),
    ("product.category", [("id", "child_of", 1)], [1, 2, 3, 4]),
    ("product.category", [("id", "parent_of", 3)], [1, 2, 3]),
    ("product.category", [("parent_id", "parent_of", 3)], [2, 3, 4]),
    ("res.partner", [("id", "child_of", 1)], [1, 2]),
    # any / not any (17+)
    ("pos.order", [("lines", "any", [("product_id", "=", 3)])], [2]),
    ("pos.order", [("lines", "not any", [("qty", ">", 0)])], [5]),
    ("pos.order.line", [("order_id", "any", [("state", "=", "cancel")])], [5]),
    ("pos.order.line", [("order_id", "not any", [("state", "in", ["paid", "done"])])], [4, 5]),
    # dotted paths: many2one, one2many, chains; inactive related records are searched
    ("pos.order.line", [("order_id.state", "=", "paid")], [1, 2, 6]),
    ("pos.order.line", [("order_id.state", "=", "paid"), ("order_id.partner_id", "=", 2)], [1, 2, 6]),
    ("pos.order", [("lines.product_id", "=", 1)], [1, 4, 5]),
    ("pos.order", [("lines.product_id.name", "=", "Cola")], [2]),
    ("pos.order.line", [("order_id.partner_id.name", "ilike", "azure")], [4]),
    ("pos.order", [("partner_id.name", "=", "Old Customer")], [4]),
    ("pos.order", [("partner_id.parent_id", "=", 1)], [1, 5]),
    # strings on relational fields search the display name
    ("pos.order", [("partner_id", "ilike", "brandon")], [1, 5]),
    ("pos.order", [("partner_id", "=", "Brandon Freeman")], [1, 5]),
    ("pos.order", [("partner_id", "in", ["Azure Interior", "Old Customer"])], [3, 4]),
    ("pos.order", [("partner_id", "not ilike", "brandon")], [2, 3, 4]),
    ("product.product", [("categ_id", "=", "All / Drinks")], [3]),
    # id
    ("pos.order", [("id", ">", 2)], [3, 4, 5]),
    ("pos.order", [("id", ">=", 2)], [2, 3, 4, 5]),
    ("pos.order", [("id", "<", 3)], [1, 2]),
    ("pos.order", [("id", "<=", 3)], [1, 2, 3]),
    ("pos.order", [("id", "=", 3)], [3]),
    ("pos.order", [("id", "!=", 3)], [1, 2, 4, 5]),
    ("pos.order", [("id", "in", [5, 1, 99])], [1, 5]),
    ("pos.order", [("id", "not in", [5, 1])], [2, 3, 4]),
    ("pos.order", [("id", ">", 1), ("id", "<", 5), ("state", "!=", "cancel")], [2, 3]),
    # constant leaves and prefix logic
    ("pos.order", [(1, "=", 1)], [1, 2, 3, 4, 5]),
    ("pos.order", [(0, "=", 1)], []),
    ("pos.order", ["|", ("state", "=", "cancel"), ("partner_id", "=", False)], [2, 4]),
    ("pos.order", ["!", ("state", "=", "paid")], [2, 3, 4]),
    ("pos.order", [("state", "=", "paid"), ("partner_id", "=", 2)], [1, 5]),
    ("pos.order", ["&", "|", ("id", "=", 1), ("id", "=", 2), ("state", "=", "paid")], [1]),
    ("pos.order", ["|", ("id", "=", 1), "&", ("id", "=", 2), ("state", "=", "paid")], [1]),
    ("pos.order", ["|", "!", ("state", "=", "paid"), ("id", "=", 1)], [1, 2, 3, 4]),
    ("pos.order", [("state", "=", "paid"), "|", ("id", "=", 1), ("id", "=", 4)], [1]),
    ("pos.order", ["!", "|", ("state", "=", "paid"), ("state", "=", "done")], [3, 4]),
    # dates and datetimes (stored as strings; a date value on a datetime means its day)
    ("pos.order", [("date_order", ">=", "2024-03-02")], [4, 5]),
    ("pos.order", [("date_order", ">", "2024-03-01")], [4, 5]),
    ("pos.order", [("date_order", "<=", "2024-03-01")], [1, 2, 3]),
    ("pos.order", [("date_order", "<", "2024-03-01 22:30:00")], [1]),
    ("pos.order", [("date_order", ">=", "2024-03-01 22:00:00"), ("date_order", "<", "2024-03-02 23:00:00")], [2, 3, 4]),
    ("pos.order", [("date_order", "=", "2024-03-02 10:00:00")], [4]),
    ("pos.order", [("date_order", ">=", "2024-03-01T22:30:00")], [2, 3, 4, 5]),
    ("account.move", [("date", "=", "2024-03-02")], [1]),
    ("account.move", [("date", ">=", "2024-03-02 15:00:00")], [1]),
    ("account.move", [("date", "<", "2024-03-02")], []),
    # the computed display name
    ("product.category", [("display_name", "ilike", "food")], [2, 3]),
]


@pytest.mark.parametrize("model,domain,expected", CASES, ids=[repr(c[1])[:70] for c in CASES])
def test_operator_table(shop, model, domain, expected):
    assert search(shop, model, domain) == expected


@pytest.mark.parametrize("model,domain,expected", CASES, ids=[repr(c[1])[:70] for c in CASES])
def test_indexes_agree_with_a_plain_scan(shop, model, domain, expected):
    """``! !`` drops every index: the predicate alone must give the same answer."""
    assert search(shop, model, ["!", "!", *normalize(domain)]) == expected


@pytest.mark.parametrize(
    "domain,context,expected",
    [
        ([], {}, [1, 2, 3, 4]),
        ([], {"active_test": False}, [1, 2, 3, 4, 5]),
        ([("active", "=", False)], {}, [5]),
        ([("active", "in", [True, False])], {}, [1, 2, 3, 4, 5]),
        ([("name", "ilike", "o")], {}, [3]),
        ([("name", "ilike", "o")], {"active_test": False}, [3, 5]),
    ],
)
def test_active_test(shop, domain, context, expected):
    assert search(shop, "product.product", domain, **context) == expected


def test_models_without_active_field_show_everything(shop):
    assert search(shop, "pos.order", []) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "model,domain,message",
    [
        ("pos.order", [("nope", "=", 1)], "Invalid field 'nope' on model 'pos.order'"),
        ("pos.order", [("nope.name", "=", 1)], "Invalid field 'nope' on model 'pos.order'"),
        ("pos.order", [("state.name", "=", 1)], "Invalid field 'state.name' on model 'pos.order'"),
        ("pos.order", [("lines.nope", "=", 1)], "Invalid field 'nope' on model 'pos.order.line'"),
        ("pos.order", [("state", "~", 1)], "Invalid leaf"),
        ("pos.order", [("state", "=")], "Invalid leaf"),
        ("pos.order", ["|", ("state", "=", "paid")], "Invalid domain"),
        ("pos.order", ["xor", ("state", "=", "paid")], "Invalid leaf"),
        ("pos.order", [("state", "any", [])], "not relational"),
        ("pos.order", [("state", "child_of", 1)], "not relational"),
    ],
)
def test_invalid_domains_raise_value_error(shop, model, domain, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        search(shop, model, domain)


def test_any_is_refused_before_odoo_17_but_paths_still_work():
    db16 = shop_db(16)
    with pytest.raises(ValueError, match="Invalid leaf"):
        search(db16, "pos.order", [("lines", "any", [("qty", ">", 0)])])
    assert search(db16, "pos.order", [("lines.qty", "<", 0)]) == [5]


def test_reverse_and_lazy_selection(shop):
    domains = Domains(shop, Indexes())
    model = shop.models["pos.order"]
    assert list(domains.search(model, [("state", "!=", "cancel")], reverse=True)) == [5, 3, 2, 1]
    iterator = domains.search(model, [])
    assert next(iterator) == 1 and next(iterator) == 2


def test_invalidate_after_changing_values_in_place():
    db = shop_db(17)
    indexes = Indexes()
    model = db.models["pos.order"]
    assert Domains(db, indexes).ids(model, [("partner_id", "=", False)]) == [2]
    model.records[1]["partner_id"] = False
    indexes.invalidate()
    assert Domains(db, indexes).ids(model, [("partner_id", "=", False)]) == [1, 2]


def test_indexes_follow_new_records():
    db = shop_db(17)
    indexes = Indexes()
    model = db.models["pos.order"]
    assert Domains(db, indexes).ids(model, [("id", ">", 4)]) == [5]
    db.models["pos.order"].add(
        {
            "name": "Shop/0006",
            "state": "draft",
            "date_order": "2024-03-04 10:00:00",
            "partner_id": 1,
            "amount_total": 0.0,
        }
    )
    assert Domains(db, indexes).ids(model, [("id", ">", 4)]) == [5, 6]
    assert Domains(db, indexes).ids(model, [("partner_id", "=", 1)]) == [3, 6]


def test_random_domains_agree_with_brute_force():
    """Index-backed plans (ids, many2one, date ranges, paths) against plain Python filters."""
    rng = random.Random(7)
    db = shop_db(17)
    for n in range(600):
        db.models["pos.order"].add(
            {
                "name": f"R{n}",
                "state": rng.choice(["paid", "done", "cancel"]),
                "partner_id": rng.choice([1, 2, 3, False]),
                "amount_total": float(n),
                "date_order": f"2024-04-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:00:00",
            }
        )
    orders = db.models["pos.order"].records
    for _ in range(3000):
        order = rng.choice(list(orders))
        db.models["pos.order.line"].add({"order_id": order, "product_id": rng.randint(1, 4), "qty": 1.0})
    lines = db.models["pos.order.line"].records
    for _ in range(40):
        lo, hi = sorted(rng.sample(range(1, 29), 2))
        start, end = f"2024-04-{lo:02d}", f"2024-04-{hi:02d}"
        last, partners = rng.randint(0, 3000), rng.sample([1, 2, 3, False], 2)
        domain = [
            ("order_id.date_order", ">=", start),
            ("order_id.date_order", "<", end),
            ("order_id.partner_id", "in", partners),
            ("id", ">", last),
        ]
        expected = [
            i
            for i, line in lines.items()
            if i > last
            and start <= orders[line["order_id"]]["date_order"] < end + " 00:00:00"
            and orders[line["order_id"]]["partner_id"] in partners
        ]
        assert search(db, "pos.order.line", domain) == expected


def test_normalize_and_combine():
    assert normalize([]) == [(1, "=", 1)]
    assert normalize([("a", "=", 1), ("b", "=", 2)]) == ["&", ("a", "=", 1), ("b", "=", 2)]
    assert normalize(["|", ("a", "=", 1), ("b", "=", 2), ("c", "=", 3)]) == [
        "&",
        "|",
        ("a", "=", 1),
        ("b", "=", 2),
        ("c", "=", 3),
    ]
    assert AND([[], [("a", "=", 1)]]) == [("a", "=", 1)]
    assert AND([[("a", "=", 1)], [("b", "=", 2)]]) == ["&", ("a", "=", 1), ("b", "=", 2)]
    assert AND([[("a", "=", 1)], [(0, "=", 1)]]) == [(0, "=", 1)]


def test_dict_predicate_for_having_clauses():
    keep = dict_predicate(["|", ("__count", ">", 2), ("amount:sum", "<", 0)])
    assert keep({"__count": 3, "amount:sum": 5})
    assert keep({"__count": 1, "amount:sum": -1})
    assert not keep({"__count": 2, "amount:sum": 0})
