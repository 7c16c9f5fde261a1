import datetime as dt

from nkdash.odoo.normalize import format_datetime, normalize, parse_datetime

TYPES = {
    "id": "integer",
    "name": "char",
    "partner_id": "many2one",
    "active": "boolean",
    "date_order": "datetime",
    "invoice_date": "date",
    "amount": "float",
    "line_ids": "one2many",
    "state": "selection",
}


def test_false_becomes_none_except_booleans():
    rec = normalize(
        {
            "id": 1,
            "name": False,
            "partner_id": False,
            "active": False,
            "date_order": False,
            "invoice_date": False,
            "line_ids": [],
            "state": False,
        },
        TYPES,
    )
    assert rec == {
        "id": 1,
        "name": None,
        "partner_id": None,
        "active": False,
        "date_order": None,
        "invoice_date": None,
        "line_ids": [],
        "state": None,
    }


def test_shapes():
    rec = normalize(
        {
            "id": 7,
            "partner_id": [3, "Azure Interior"],
            "date_order": "2026-03-29 00:30:00",
            "invoice_date": "2026-03-29",
            "amount": 12.5,
            "line_ids": [1, 2],
        },
        TYPES,
        with_names=["partner_id"],
    )
    assert rec["partner_id"] == 3 and rec["partner_id_name"] == "Azure Interior"
    assert rec["date_order"] == dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)
    assert rec["invoice_date"] == dt.date(2026, 3, 29)
    assert rec["amount"] == 12.5 and rec["line_ids"] == [1, 2]


def test_datetime_round_trip_is_utc():
    local = dt.datetime(2026, 7, 1, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_datetime(local) == "2026-07-01 00:00:00"
    assert parse_datetime(format_datetime(local)) == local


# ---------------------------------------------------------------- columnar (normalize_table)
import pyarrow as pa  # noqa: E402
import pytest  # noqa: E402

from nkdash.odoo.normalize import normalize_table  # noqa: E402

COLUMN_TYPES = {
    **TYPES,
    "qty": "float",
    "count": "integer",
    "note": "text",
    "tag_ids": "many2many",
    "write_date": "datetime",
}
SHAPES = [  # what Odoo sends: False for every empty value, [id, name] pairs, naive UTC strings
    {
        "id": 1,
        "name": "Shop/0001",
        "partner_id": [3, "Azure Interior"],
        "active": True,
        "date_order": "2026-03-29 00:30:00",
        "invoice_date": "2026-03-29",
        "amount": 12.5,
        "line_ids": [1, 2],
        "state": "paid",
        "qty": -2.0,
        "count": 4,
        "note": False,
        "tag_ids": [],
        "write_date": "2026-03-29 01:00:00",
    },
    {
        "id": 2,
        "name": False,
        "partner_id": False,
        "active": False,
        "date_order": False,
        "invoice_date": False,
        "amount": 0.0,
        "line_ids": [],
        "state": False,
        "qty": 0,
        "count": False,
        "note": "x",
        "tag_ids": [5],
        "write_date": "2026-10-25 01:59:59",
    },
    {
        "id": 3,
        "name": "Shop/0003",
        "partner_id": [4, "Deco Addict"],
        "active": True,
        "date_order": "2026-12-31 23:59:59",
        "invoice_date": "2026-12-31",
        "amount": 1e-7,
        "line_ids": [3],
        "state": "done",
        "qty": 1.5,
        "count": 0,
        "note": False,
        "tag_ids": [1, 2],
        "write_date": False,
    },
]


def rows_of(table: pa.Table) -> list[dict]:
    return table.to_pylist()


@pytest.mark.parametrize("records", [SHAPES, SHAPES[1:2], SHAPES[::-1]], ids=["all", "all-empty", "reversed"])
def test_normalize_table_equals_normalize_per_record(records):
    fields = list(records[0])
    table = normalize_table(records, fields, COLUMN_TYPES, with_names=["partner_id"])
    expected = [normalize(r, COLUMN_TYPES, with_names=["partner_id"]) for r in records]
    assert rows_of(table) == expected  # aware datetimes compare by instant; False -> None; m2o -> id
    assert table.column_names == [*fields[:3], "partner_id_name", *fields[3:]]


def test_normalize_table_types_do_not_depend_on_the_values():
    fields = list(SHAPES[0])
    full = normalize_table(SHAPES, fields, COLUMN_TYPES).schema
    assert normalize_table([], fields, COLUMN_TYPES).schema == full
    assert normalize_table(SHAPES[1:2], fields, COLUMN_TYPES).schema == full  # every value empty
    assert full.field("partner_id").type == pa.int64() and full.field("qty").type == pa.float64()
    assert full.field("date_order").type == pa.timestamp("us", tz="UTC")
    assert full.field("invoice_date").type == pa.date32() and full.field("active").type == pa.bool_()


def test_normalize_table_accepts_bare_many2one_ids_and_real_datetimes():
    records = [
        {"id": 1, "partner_id": 7, "date_order": dt.datetime(2026, 1, 2, 3, 4, 5), "invoice_date": dt.date(2026, 1, 2)},
        {"id": 2, "partner_id": False, "date_order": False, "invoice_date": False},
    ]
    table = normalize_table(records, ["id", "partner_id", "date_order", "invoice_date"], TYPES)
    assert rows_of(table) == [normalize(r, TYPES) for r in records]


def test_parse_datetime_truncates_fractions_like_odoo_strings():
    assert parse_datetime("2026-03-29 00:30:00.123456") == dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)
    assert parse_datetime(False) is None
