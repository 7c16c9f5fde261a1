"""The benchmark suite (benchmarks/): it runs, every figure is there, the baselines answer
the same as nkdash. Timings are never asserted: benchmarks report, they do not fail."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest

from benchmarks import queries, synthetic
from benchmarks.run import QUICK_SCENARIOS
from nkdash.etl.datasets.profit import GROUP_BY, SUMMED

REPO = Path(__file__).resolve().parent.parent


def test_every_dashboard_query_has_a_scenario():
    params = queries.Params(dt.date(2024, 1, 1), dt.date(2026, 12, 31), (2, 5), 3)
    uncovered, everything = queries.coverage(queries.scenarios(params))
    assert everything, "no query function found in nkdash.dashboards"
    assert uncovered == [], f"add a scenario in benchmarks/queries.py for: {uncovered}"


def test_quick_scenarios_exist():
    params = queries.Params(synthetic.QUICK.start, synthetic.QUICK.end, (2, 3), 3)
    names = {s.name for s in queries.scenarios(params)}
    assert set(QUICK_SCENARIOS) <= names


def test_synthetic_day_follows_the_data_contract():
    company = synthetic.Company(synthetic.QUICK)
    tables = company.day(dt.date(2026, 10, 28))  # a Wednesday: POS, invoices, purchases
    for name, table in tables.items():
        assert table.schema.equals(synthetic.SCHEMAS[name]), name
        assert table.num_rows > 0, name
    sales = tables["fact_sales"]
    assert pc.all(pc.equal(sales["margin"], pc.subtract(sales["revenue"], sales["cost"]))).as_py()
    assert set(sales["channel"].to_pylist()) == {"pos", "invoice"}
    assert sales.group_by(["channel", "source_line_id"]).aggregate([]).num_rows == sales.num_rows
    agg = tables["agg_profit_daily"]
    for column in SUMMED:
        assert pc.sum(agg[column]).as_py() == pytest.approx(pc.sum(sales[column]).as_py())
    assert pc.sum(agg["lines"]).as_py() == sales.num_rows
    assert agg.group_by(list(GROUP_BY)).aggregate([]).num_rows == agg.num_rows
    assert pc.min(tables["fact_stock_quants"]["quantity"]).as_py() < 1  # some stock-outs


def test_synthetic_days_are_deterministic():
    day = dt.date(2026, 10, 3)
    one, two = synthetic.Company(synthetic.QUICK).day(day), synthetic.Company(synthetic.QUICK).day(day)
    assert all(one[name].equals(two[name]) for name in one)


@pytest.mark.slow
def test_quick_run_produces_every_figure(tmp_path):
    """``python -m benchmarks.run --quick`` (what benchmarks/README.md tells to run first)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| figure | value | baseline | ratio | target | met? |" in out.stdout
    data = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "results.md").read_text().count("\n|") == out.stdout.count("\n|")
    figures = data["figures"]
    for figure in figures:
        assert figure["value"] is not None or figure["value_text"], figure["name"]
    names = [f["name"] for f in figures]
    for scenario in QUICK_SCENARIOS:
        for kind in ("warm p50 / p95", "cold (first query, new process)", "nkdash cache hit p50 / p95"):
            assert f"{scenario}: {kind}" in names
    parts = {f["part"] for f in figures}
    assert parts == {"setup", "queries", "etl", "memory", "pages", "ablation", "layout", "prototypes"}, (
        data.get("notes"),
        out.stderr[-3000:],
    )
    for start in (
        "ETL 1 day, 6 datasets",
        "peak RSS, refresh pos",
        "served app,",
        "1 viewer (headless Chromium): navigation until the KPI cards show numbers",
        "1 viewer returning (marimo's front end in the browser's cache)",
        "a filter change (store, period)",
        "data files, all dated tables",
        "nkdash.dashboards on the compacted lake",
    ):
        assert any(n.startswith(start) for n in names), start
    warm = [f for f in figures if f["name"].endswith("warm p50 / p95") and f["detail"].get("same_answer") is not None]
    assert warm and all(f["detail"]["same_answer"] for f in warm), "a pandas baseline answers differently"
