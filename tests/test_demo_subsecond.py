"""Sub-second write dates, as Odoo has them: stored with microseconds, read cut to the second,
compared in domains at full precision (so a record written at x.5 s matches
``write_date > "<the value read>"`` again and again)."""

from __future__ import annotations

import datetime as dt

import pytest

from nkdash.demo import DemoServer
from nkdash.demo.generate import DemoConfig, apply_late_edits, generate
from nkdash.demo.store import fmt_datetime, fmt_stamp, read_datetime
from nkdash.etl import catch_up, plan, refresh
from tests.support.demo import DATED, DATES, END, settings_for
from tests.support.rpc import Rpc
from tests.support.shop import shop_db

VERSIONS = (16, 17, 18, 19)
HALF = dt.datetime(2024, 3, 10, 12, 30, 0, 500000)  # Apple written at 12:30:00.5, the latest write
EARLIER = dt.datetime(2024, 3, 10, 12, 29, 0)  # Banana written at 12:29:00 exactly
SEEN = "2024-03-10 12:30:00"  # Apple's write_date as read


def test_stamps_keep_microseconds_and_reads_cut_them():
    assert fmt_stamp(HALF) == "2024-03-10 12:30:00.500000" and fmt_stamp(EARLIER) == "2024-03-10 12:29:00"
    assert (
        fmt_stamp(dt.datetime(2024, 3, 10, 13, 30, 0, 7, tzinfo=dt.timezone(dt.timedelta(hours=1))))
        == "2024-03-10 12:30:00.000007"
    )
    assert fmt_datetime(HALF) == SEEN and read_datetime(fmt_stamp(HALF)) == SEEN and read_datetime(False) is False
    stamps = [fmt_stamp(HALF + dt.timedelta(microseconds=k)) for k in (-500000, -1, 0, 499999, 500000)]
    assert stamps == sorted(stamps)  # stored strings sort like the moments they name


def served_shop(version: int, apple_written: dt.datetime) -> DemoServer:
    """The shop (products 1-4 active) with Apple (1) written at ``apple_written``, Banana (2) at 12:29."""
    db = shop_db(version)
    db.write("product.product", [2], {"list_price": 0.6}, when=EARLIER)
    db.write("product.product", [1], {"list_price": 1.3}, when=apple_written)
    return DemoServer(db)


@pytest.fixture(params=VERSIONS, ids=lambda v: f"odoo{v}")
def written(request):
    with served_shop(request.param, HALF) as server:
        yield Rpc(server)


def test_a_record_written_at_half_a_second_matches_write_date_after_its_own_value(written):
    rpc = written
    [apple] = rpc("product.product", "read", ids=[1], fields=["write_date", "create_date"])
    assert apple["write_date"] == SEEN and len(apple["create_date"]) == 19
    for domain, expected in [
        ([("write_date", ">", SEEN)], [1]),  # 12:30:00.5 > 12:30:00
        ([("write_date", ">=", SEEN)], [1]),
        ([("write_date", "=", SEEN)], []),  # never equal to what read shows
        ([("write_date", "<=", SEEN)], [2, 3, 4]),  # nor before it
        ([("write_date", "<", "2024-03-10 12:30:01")], [1, 2, 3, 4]),
        ([("write_date", ">", "2024-03-10 12:29:00")], [1]),  # a whole-second write is not seen again
        ([("write_date", ">", "2024-03-10")], []),  # a date alone: the end of that day
    ]:
        assert rpc("product.product", "search", domain=domain) == expected, domain
    assert rpc("product.product", "search", domain=[], order="write_date desc", limit=2) == [1, 2]


@pytest.mark.parametrize(
    ("apple_written", "batches"),
    [
        (HALF, [[1, 2], [1], [1]]),  # Apple comes back on every pass
        (HALF.replace(microsecond=0), [[1, 2], [], []]),  # written on the second: seen once
    ],
    ids=["mid-second", "on-the-second"],
)
@pytest.mark.parametrize("version", [17, 19])
def test_a_watermark_taken_from_read_values_sees_a_mid_second_write_again(version, apple_written, batches):
    """A client that asks for ``write_date > <the latest value it read>`` gets the record written
    in the middle of that second every time: Odoo compares at full precision."""
    with served_shop(version, apple_written) as server:
        rpc, since, seen = Rpc(server), "2024-03-10 12:00:00", []
        for _ in range(3):
            changed = rpc("product.product", "search_read", domain=[("write_date", ">", since)], fields=["write_date"])
            seen.append([r["id"] for r in changed])
            since = max([since, *(r["write_date"] for r in changed)])
        assert seen == batches and since == SEEN


def test_aggregated_datetimes_are_read_to_the_second(written):
    rpc, domain = written, [("id", "in", [1, 2])]
    if rpc.version >= 19:
        [row] = rpc("product.product", "formatted_read_group", domain=domain, groupby=[], aggregates=["write_date:max"])
        assert row["write_date:max"] == SEEN
    else:
        [row] = rpc("product.product", "read_group", domain=domain, fields=["write_date:max"], groupby=[])
        assert row["write_date"] == SEEN


def test_late_edits_keep_the_microseconds_of_their_time():
    db = generate(DemoConfig(scale="tiny", days=7, end=dt.date(2024, 4, 2)))
    changed = apply_late_edits(db, dt.datetime(2024, 4, 3, 8, 0, 0, 123456), n=2)
    for model, ids in changed.items():
        assert {db.models[model].records[i]["write_date"] for i in ids} == {"2024-04-03 08:00:00.123456"}, model
    closed = [db.models["pos.session"].records[i] for i in changed["pos.session"]]
    assert closed and {s["stop_at"] for s in closed} == {"2024-04-03 08:00:00"}  # Datetime.now(): whole seconds
    assert db.now == dt.datetime(2024, 4, 3, 8, 0, 0, 123456)


# --------------------------------------------------------------------------- nkdash over mid-second writes
@pytest.mark.parametrize("version", [17], ids=["odoo17"])
def test_the_etl_converges_after_mid_second_late_edits(fresh_demo, tmp_path):
    """test_etl's test_late_edits_converge, with the edits made at x.5 s as Odoo stamps them."""
    today = END + dt.timedelta(days=1)
    settings = settings_for(fresh_demo, tmp_path / "lake")
    for name in DATED:
        assert refresh(name, DATES, settings=settings, progress=False).ok
    apply_late_edits(fresh_demo.db, fresh_demo.db.now + dt.timedelta(hours=1, microseconds=500000), n=3)
    for name in DATED:
        assert catch_up(name, today, settings=settings).ok
    assert {name: plan(name, today, settings=settings) for name in DATED} == {name: [] for name in DATED}
