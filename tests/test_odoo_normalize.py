import datetime as dt

from nkdash.odoo.normalize import format_datetime, normalize, parse_datetime

TYPES = {"id": "integer", "name": "char", "partner_id": "many2one", "active": "boolean",
         "date_order": "datetime", "invoice_date": "date", "amount": "float", "line_ids": "one2many",
         "state": "selection"}


def test_false_becomes_none_except_booleans():
    rec = normalize({"id": 1, "name": False, "partner_id": False, "active": False, "date_order": False,
                     "invoice_date": False, "line_ids": [], "state": False}, TYPES)
    assert rec == {"id": 1, "name": None, "partner_id": None, "active": False, "date_order": None,
                   "invoice_date": None, "line_ids": [], "state": None}


def test_shapes():
    rec = normalize({"id": 7, "partner_id": [3, "Azure Interior"], "date_order": "2026-03-29 00:30:00",
                     "invoice_date": "2026-03-29", "amount": 12.5, "line_ids": [1, 2]},
                    TYPES, with_names=["partner_id"])
    assert rec["partner_id"] == 3 and rec["partner_id_name"] == "Azure Interior"
    assert rec["date_order"] == dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.timezone.utc)
    assert rec["invoice_date"] == dt.date(2026, 3, 29)
    assert rec["amount"] == 12.5 and rec["line_ids"] == [1, 2]


def test_datetime_round_trip_is_utc():
    local = dt.datetime(2026, 7, 1, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_datetime(local) == "2026-07-01 00:00:00"
    assert parse_datetime(format_datetime(local)) == local
