"""nkdash.up: an upgraded lake gets its new aggregates from its own fact_sales before the
catch-up plans anything from Odoo."""

from __future__ import annotations

import shutil

import pytest

from nkdash import etl
from nkdash.cli import up
from nkdash.lake import Lake
from tests.support.demo import DATES


@pytest.mark.parametrize("version", [17], ids=["odoo17"])
def test_initial_load_rebuilds_missing_aggregates_before_the_catch_up(lake_copy, monkeypatch):
    lake = Lake(lake_copy.lake)
    shutil.rmtree(lake.table_dir("agg_orders_daily"))  # a lake of an older nkdash
    seen = []

    def catch_up(name, **kwargs):
        seen.append((name, lake.partitions("agg_orders_daily")))
        return etl.RunReport(name)

    monkeypatch.setattr(etl, "catch_up", catch_up)
    said: list[str] = []
    assert up.initial_load(lake_copy, 3, said.append)
    assert [name for name, _ in seen] == list(up.INITIAL_ORDER)
    assert all(dates == DATES for _, dates in seen)  # already there for every catch-up
    assert "agg_orders_daily   rebuilt 5 date(s)" in said[0]
    said.clear()
    up.initial_load(lake_copy, 3, said.append)
    assert not any("derived tables" in line for line in said)  # nothing to say the second time
