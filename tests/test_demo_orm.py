"""Odoo's model methods over the demo store: signatures per version and result shapes."""

import pytest

from nkdash.demo.domain import Domains
from nkdash.demo.orm import AccessDenied, AccessError, DatabaseNotFound, Registry, UserError
from tests.support.shop import shop_db

VERSIONS = (16, 17, 18, 19)


@pytest.fixture(scope="module", params=VERSIONS)
def env(request):
    db = shop_db(request.param)
    return Registry(db).env(db.users["admin"])


def call(env, model, method, *args, **kwargs):
    return env[model].call(method, args, kwargs)


# ---------------------------------------------------------------- search / read
def test_search_read_fields_order_limit_offset(env):
    rows = call(
        env,
        "pos.order",
        "search_read",
        [("state", "!=", "cancel")],
        ["name", "partner_id"],
        order="amount_total desc",
        limit=2,
        offset=1,
    )
    assert rows == [
        {"id": 1, "name": "Shop/0001", "partner_id": [2, "Brandon Freeman"]},
        {"id": 2, "name": "Shop/0002", "partner_id": False},
    ]


@pytest.mark.parametrize(
    "order,expected",
    [
        (None, [1, 2, 3, 4, 5]),
        ("id desc", [5, 4, 3, 2, 1]),
        ("date_order desc", [5, 4, 3, 2, 1]),
        ("state, id desc", [4, 2, 3, 5, 1]),  # cancel, done, invoiced, paid
        ("partner_id", [3, 1, 5, 4, 2]),  # by related name, unset last
        ("partner_id desc, id", [2, 4, 1, 5, 3]),  # unset first when descending
        ('"amount_total" ASC', [5, 4, 2, 1, 3]),
    ],
)
def test_search_order(env, order, expected):
    if order == "state, id desc" and env.registry.db.version == 19:
        expected = [4, 3, 2, 5, 1]  # no "invoiced" in 19: order 3 is "done"
    assert call(env, "pos.order", "search", [], order=order) == expected


def test_search_count_and_limit(env):
    assert call(env, "pos.order", "search_count", [("state", "=", "paid")]) == 2
    assert call(env, "pos.order", "search_count", [], limit=3) == 3
    assert call(env, "pos.order", "search", [], 0, 2) == [1, 2]


def test_read_shapes(env):
    [order] = call(
        env,
        "pos.order",
        "read",
        [3],
        ["partner_id", "lines", "date_order", "account_move", "display_name", "amount_total"],
    )
    assert order == {
        "id": 3,
        "partner_id": [1, "Azure Interior"],
        "lines": [4],
        "date_order": "2024-03-01 23:30:00",
        "account_move": [1, "INV/2024/00001"],
        "display_name": "Shop/0003",
        "amount_total": 6.2,
    }
    raw = call(env, "pos.order", "read", [3, 2], ["partner_id"], load="_classic_write")
    assert raw == [{"id": 3, "partner_id": 1}, {"id": 2, "partner_id": False}]


def test_read_all_fields_skips_missing_ids_and_reads_inactive_records(env):
    rows = call(env, "product.product", "read", [5, 999])
    assert [r["id"] for r in rows] == [5] and rows[0]["active"] is False
    assert set(rows[0]) == set(env.registry.db.models["product.product"].fields)


@pytest.mark.parametrize(
    "method,args,kwargs",
    [
        ("read", ([1], ["nope"]), {}),
        ("search_read", ([],), {"fields": ["name", "nope"]}),
        ("search", ([("nope", "=", 1)],), {}),
        ("search", ([],), {"order": "nope"}),
        ("search", ([],), {"order": "name sideways"}),
    ],
)
def test_unknown_fields_raise_value_error(env, method, args, kwargs):
    with pytest.raises(ValueError, match="Invalid"):
        env["pos.order"].call(method, args, kwargs)


def test_signatures_are_odoo_signatures(env):
    with pytest.raises(TypeError):
        call(env, "pos.order", "search", [], bogus=1)
    assert call(env, "pos.order", "search_read", domain=[("id", "=", 1)], fields=["name"]) == [
        {"id": 1, "name": "Shop/0001"}
    ]


def test_context_changes_active_test(env):
    products = env.registry.env(env.user, {"active_test": False})["product.product"]
    assert products.call("search", [[]]) == [1, 2, 3, 4, 5]
    assert call(env, "product.product", "search", []) == [1, 2, 3, 4]


# ---------------------------------------------------------------- metadata and access
def test_fields_get_shape(env):
    fields = call(env, "pos.order", "fields_get")
    assert fields["partner_id"]["type"] == "many2one" and fields["partner_id"]["relation"] == "res.partner"
    assert fields["lines"]["relation_field"] == "order_id"
    assert ["paid", "Paid"] in fields["state"]["selection"]
    assert fields["display_name"]["store"] is False and fields["id"]["readonly"] is True
    key = "group_operator" if env.registry.db.version <= 17 else "aggregator"
    assert fields["amount_total"][key] == "sum"
    some = call(env, "pos.order", "fields_get", ["name", "nope"], ["type", "string"])
    assert some == {"name": {"type": "char", "string": "Order Ref"}}


def test_version_specific_fields(env):
    version = env.registry.db.version
    fields = call(env, "stock.move", "fields_get", attributes=["type"])
    assert ("quantity_done" in fields) == (version == 16)
    assert ("is_storable" in call(env, "product.product", "fields_get")) == (version >= 18)


def test_methods_per_version(env):
    version = env.registry.db.version
    api = env["res.partner"]
    for name, exists in [
        ("name_get", version == 16),
        ("formatted_read_group", version == 19),
        ("read_group", True),
        ("search_read", True),
    ]:
        if exists:
            assert api.public_method(name)
        else:
            with pytest.raises(AttributeError, match=f"The method 'res.partner.{name}' does not exist"):
                api.public_method(name)
    with pytest.raises(AccessError, match="Private methods"):
        api.call("_read", [[1]])
    with pytest.raises(AttributeError):
        call(env, "res.partner", "context_get")


def test_name_search_and_name_get(env):
    assert call(env, "res.partner", "name_search", "free") == [[2, "Brandon Freeman"]]
    domain_kw = "args" if env.registry.db.version <= 17 else "domain"
    assert call(env, "product.product", "name_search", "", **{domain_kw: [("categ_id", "=", 3)]}) == [
        [1, "Apple"],
        [2, "Banana"],
    ]
    if env.registry.db.version == 16:
        assert call(env, "product.category", "name_get", [3]) == [[3, "All / Food / Fruit"]]
        assert call(env, "pos.order", "search", [], count=True) == 5


def test_context_get_and_access(env):
    assert call(env, "res.users", "context_get") == {"lang": "en_US", "tz": "Europe/Brussels", "uid": 2}
    clerk = env.registry.env(env.registry.db.users["clerk"])
    assert clerk["res.users"].call("context_get") == {"lang": "en_US", "tz": "Europe/Brussels", "uid": 7}
    assert clerk["product.product"].call("search_count", [[]]) == 4
    with pytest.raises(AccessError, match=r"not allowed to access .* \(pos\.order\)"):
        clerk["pos.order"].call("search_read", [[]])
    assert clerk["pos.order"].call("check_access_rights", ["read"], {"raise_exception": False}) is False
    assert clerk["pos.order"].call("fields_get", [["name"], ["type"]]) == {"name": {"type": "char"}}


def test_registry_authentication():
    registry = Registry(shop_db(17))
    assert registry.authenticate("demo", "admin", "admin") == 2
    assert registry.authenticate("demo", "admin", "demo-api-key") == 2  # API keys work as passwords
    assert registry.authenticate("demo", "admin", "wrong") is False
    assert registry.authenticate("demo", "ghost", "admin") is False
    with pytest.raises(AccessDenied, match="Access Denied"):
        registry.user("demo", 2, "wrong")
    with pytest.raises(DatabaseNotFound, match='database "nope" does not exist'):
        registry.authenticate("nope", "admin", "admin")
    assert registry.api_key_user("clerk-key").login == "clerk"


def test_write_is_a_late_edit_seen_by_the_indexes():
    db = shop_db(17)
    registry = Registry(db)
    env = registry.env(db.users["admin"])
    orders = env["pos.order"]
    assert orders.call("search", [[("partner_id", "=", False)]]) == [2]
    assert orders.call("write", [[1], {"partner_id": False}]) is True
    assert orders.call("search", [[("partner_id", "=", False)]]) == [1, 2]
    assert db.models["pos.order"].records[1]["write_date"] == "2024-03-10 12:00:00"
    db.write("pos.order", [2], {"date_order": "2024-03-09 10:00:00"})  # an edit made behind the ORM
    assert Domains(db, registry.indexes).ids(db.models["pos.order"], [("date_order", ">", "2024-03-08")]) == [2]
    with pytest.raises(ValueError, match="Invalid field"):
        orders.call("write", [[1], {"nope": 1}])


# ---------------------------------------------------------------- read_group (16-19)
def test_read_group_lazy_by_day_with_sums(env):
    rows = call(
        env,
        "pos.order",
        "read_group",
        [("state", "!=", "cancel")],
        ["amount_total:sum"],
        ["date_order:day", "config_id"],
    )
    assert rows[0] == {
        "date_order:day": "01 Mar 2024",
        "date_order_count": 3,
        "amount_total": 11.6,
        "__range": {"date_order:day": {"from": "2024-03-01 00:00:00", "to": "2024-03-02 00:00:00"}},
        "__domain": [
            "&",
            ("state", "!=", "cancel"),
            "&",
            ("date_order", ">=", "2024-03-01 00:00:00"),
            ("date_order", "<", "2024-03-02 00:00:00"),
        ],
        "__context": {"group_by": ["config_id"]},
    }
    assert [(r["date_order:day"], r["date_order_count"]) for r in rows] == [("01 Mar 2024", 3), ("03 Mar 2024", 1)]


def test_read_group_non_lazy_in_the_users_timezone(env):
    brussels = env.registry.env(env.user, {"tz": "Europe/Brussels"})["pos.order"]
    rows = brussels.call(
        "read_group",
        [[], ["amount_total", "total:sum(amount_total)"], ["date_order:day", "config_id"]],
        {"lazy": False},
    )
    summary = [(r["date_order:day"], r["config_id"], r["__count"], r["amount_total"], r["total"]) for r in rows]
    assert summary == [
        ("01 Mar 2024", [1, "Brussels Centre"], 2, 5.4, 5.4),
        ("02 Mar 2024", [2, "Gent"], 2, 7.4, 7.4),
        ("03 Mar 2024", [1, "Brussels Centre"], 1, -1.2, -1.2),
    ]
    assert rows[1]["__range"] == {"date_order:day": {"from": "2024-03-01 23:00:00", "to": "2024-03-02 23:00:00"}}
    assert "__context" not in rows[0]


def test_read_group_month_default_many2one_and_orderby(env):
    rows = call(env, "pos.order", "read_group", [], ["amount_total"], ["partner_id"], orderby="amount_total desc")
    assert [(r["partner_id"], r["partner_id_count"], r["amount_total"]) for r in rows] == [
        ([1, "Azure Interior"], 1, 6.2),
        ([2, "Brandon Freeman"], 2, 2.2),
        (False, 1, 2.0),
        ([3, "Old Customer"], 1, 1.2),
    ]
    assert rows[2]["__domain"] == [("partner_id", "=", False)]
    [month] = call(env, "pos.order", "read_group", [], ["amount_total"], ["date_order"])
    assert month["date_order"] == "March 2024" and month["date_order_count"] == 5
    [total] = call(env, "pos.order", "read_group", [("id", "<", 3)], ["amount_total:sum"], [])
    assert total == {"__count": 2, "amount_total": 5.4, "__domain": [("id", "<", 3)]}


@pytest.mark.parametrize(
    "granularity,labels",
    [
        ("week", ["W9 2024", "W10 2024"]),
        ("month", ["March 2024"]),
        ("quarter", ["Q1 2024"]),
        ("year", ["2024"]),
    ],
)
def test_read_group_granularities(env, granularity, labels):
    rows = call(env, "pos.order", "read_group", [], ["amount_total"], [f"date_order:{granularity}"])
    assert [r[f"date_order:{granularity}"] for r in rows] == labels


def test_read_group_errors(env):
    with pytest.raises(ValueError, match="Invalid field 'nope'"):
        call(env, "pos.order", "read_group", [], ["nope:sum"], ["state"])
    with pytest.raises(ValueError, match="Invalid field 'nope'"):
        call(env, "pos.order", "read_group", [], ["amount_total"], ["nope"])
    with pytest.raises(ValueError, match="granularity"):
        call(env, "pos.order", "read_group", [], ["amount_total"], ["date_order:fortnight"])


# ---------------------------------------------------------------- formatted_read_group (19)
@pytest.fixture(scope="module")
def env19():
    db = shop_db(19)
    return Registry(db).env(db.users["admin"], {"tz": "Europe/Brussels"})


def test_formatted_read_group_shape(env19):
    rows = call(
        env19,
        "pos.order",
        "formatted_read_group",
        [("state", "!=", "cancel")],
        ["date_order:day"],
        ["amount_total:sum", "__count"],
    )
    assert rows == [
        {
            "date_order:day": ["2024-02-29 23:00:00", "01 Mar 2024"],
            "amount_total:sum": 5.4,
            "__count": 2,
            "__extra_domain": [
                "&",
                ("date_order", ">=", "2024-02-29 23:00:00"),
                ("date_order", "<", "2024-03-01 23:00:00"),
            ],
        },
        {
            "date_order:day": ["2024-03-01 23:00:00", "02 Mar 2024"],
            "amount_total:sum": 6.2,
            "__count": 1,
            "__extra_domain": [
                "&",
                ("date_order", ">=", "2024-03-01 23:00:00"),
                ("date_order", "<", "2024-03-02 23:00:00"),
            ],
        },
        {
            "date_order:day": ["2024-03-02 23:00:00", "03 Mar 2024"],
            "amount_total:sum": -1.2,
            "__count": 1,
            "__extra_domain": [
                "&",
                ("date_order", ">=", "2024-03-02 23:00:00"),
                ("date_order", "<", "2024-03-03 23:00:00"),
            ],
        },
    ]


def test_formatted_read_group_many2one_order_having_limit(env19):
    rows = call(
        env19,
        "pos.order",
        "formatted_read_group",
        [],
        ["config_id", "partner_id"],
        ["amount_total:sum"],
        having=[("__count", ">=", 1)],
        order="amount_total:sum desc",
        limit=2,
    )
    assert rows == [
        {
            "config_id": [2, "Gent"],
            "partner_id": [1, "Azure Interior"],
            "amount_total:sum": 6.2,
            "__extra_domain": ["&", ("config_id", "=", 2), ("partner_id", "=", 1)],
        },
        {
            "config_id": [1, "Brussels Centre"],
            "partner_id": [2, "Brandon Freeman"],
            "amount_total:sum": 2.2,
            "__extra_domain": ["&", ("config_id", "=", 1), ("partner_id", "=", 2)],
        },
    ]
    kept = call(
        env19, "pos.order", "formatted_read_group", [], ["partner_id"], ["__count"], having=[("__count", ">", 1)]
    )
    assert kept == [{"partner_id": [2, "Brandon Freeman"], "__count": 2, "__extra_domain": [("partner_id", "=", 2)]}]
    assert call(
        env19, "pos.order", "formatted_read_group", [("id", "in", [])], [], ["__count", "amount_total:sum"]
    ) == [{"__count": 0, "amount_total:sum": 0, "__extra_domain": [(1, "=", 1)]}]


def test_formatted_read_group_requires_granularity_and_valid_aggregates(env19):
    with pytest.raises(ValueError, match="granularity"):
        call(env19, "pos.order", "formatted_read_group", [], ["date_order"], ["__count"])
    with pytest.raises(ValueError, match="Invalid aggregate"):
        call(env19, "pos.order", "formatted_read_group", [], ["state"], ["amount_total"])
    with pytest.raises(ValueError, match=r"Invalid field 'nope' on model 'pos.order' for 'nope:sum'"):
        call(env19, "pos.order", "formatted_read_group", [], ["state"], ["nope:sum"])


def test_unknown_model_is_a_key_error_for_the_rpc_layer():
    db = shop_db(17)
    env = Registry(db).env(db.users["admin"])
    assert "pos.order" in env and "nope.model" not in env
    with pytest.raises(KeyError):
        env["nope.model"]
    assert issubclass(AccessDenied, UserError) and issubclass(AccessError, UserError)
