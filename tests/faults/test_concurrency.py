"""Concurrency: simultaneous refreshes of one partition, and rewrites during dashboard reads.

One write per request wins, atomically; the partition lock makes a duplicate request a
no-op; readers never fail and never see mixed data (each read is the old or the new
content, whole).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from nkdash import dashboards as dash
from nkdash.demo import Faults, start_demo
from nkdash.lake import Lake, warehouse
from nkdash.meta import MetaStore
from tests.support.demo import DATES, TZ, demo_config, settings_for
from tests.support.lake import copy_lake, lake_checksums
from tests.support.processes import REPO, child_env

pytestmark = pytest.mark.faults

N = int(os.environ.get("NKDASH_CONCURRENT_REFRESHES", "4"))
RATE = float(os.environ.get("NKDASH_REWRITE_RATE", "20"))  # partition rewrites per second (the writer keeps this pace)
DAY = DATES[1]

REFRESHER = textwrap.dedent("""
    # One refresh request of pos for a date, started when the file argv[2] appears.
    import json, os, sys, time, datetime as dt
    from nkdash.etl import refresh
    from nkdash.jobs import backend, requests
    from nkdash.settings import get_settings

    how, go, day = sys.argv[1], sys.argv[2], dt.date.fromisoformat(sys.argv[3])
    settings = get_settings()
    backend.huey_for(settings)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    if how == "locked":
        outcome = requests.refresh_sync("pos", day, settings)
        print(json.dumps({"loaded": [str(d) for d in outcome.loaded], "duplicates": {str(d): t for d, t in
                          outcome.duplicates.items()}}), flush=True)
    elif how == "cli":  # `nkdash refresh pos --date D`, as two operators (or cron and one) would type it
        import contextlib, io
        from nkdash.cli.main import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["refresh", "pos", "--date", str(day)])
        text = out.getvalue()
        assert code == 0, text
        duplicate = text.split("already being loaded by task ")[1].split(":")[0] if "already being" in text else None
        print(json.dumps({"loaded": [] if duplicate else [str(day)], "duplicates": {str(day): duplicate} if duplicate
                          else {}}), flush=True)
    else:
        report = refresh("pos", [day], settings=settings, progress=False)
        print(json.dumps({"loaded": [str(u.date) for u in report.units if u.dataset == "pos" and u.status ==
                                      "success"], "duplicates": {}}), flush=True)
""")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["locked", "cli", "raw"])
def test_simultaneous_refreshes_of_one_partition(loaded_lake, tmp_path, tally, how):
    """N processes refresh pos for one date at the same instant, against a slowed Odoo so
    they overlap. ``locked`` (the queue's sync refresh, as the operations page does) and
    ``cli`` (``nkdash refresh``, which takes the same partition lock): one loads, the others
    are no-ops naming it. ``raw`` (``etl.refresh``, the library call, no queue lock): each
    writes, one after the other, atomically. Either way: one file, the right content,
    staging empty, the scan clean, the metadata consistent."""
    server = start_demo(demo_config(17))
    try:
        server.faults = Faults(latency=0.05)  # a refresh takes seconds: they overlap
        source = loaded_lake(17)
        settings = settings_for(
            server,
            copy_lake(source.lake, tmp_path / "lake"),
            tz=TZ,
            state_dir=tmp_path / "state",
            log_dir=tmp_path / "logs",
        )
        clean = lake_checksums(source.lake)
        Lake(settings.lake).delete_partition("fact_pos_sales", DAY)  # so the load shows
        meta = MetaStore.for_lake(Lake(settings.lake))
        runs_before = {r["id"] for r in meta.runs(dataset="pos")}
        script, go = tmp_path / "refresher.py", tmp_path / "go"
        script.write_text(REFRESHER)
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), how, str(go), str(DAY)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=child_env(settings),
                cwd=tmp_path,
            )
            for _ in range(N)
        ]
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        go.touch()
        outcomes = []
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            outcomes.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        server.stop()
    loads = [o for o in outcomes if o["loaded"] == [str(DAY)]]
    runs = [r for r in meta.runs(dataset="pos") if r["id"] not in runs_before]
    if how in ("locked", "cli"):
        assert len(loads) == 1, outcomes
        winner_task = next(r["task_id"] for r in runs if r["status"] == "success")
        assert all(o["duplicates"] == {str(DAY): winner_task} for o in outcomes if o not in loads)
        assert Counter(r["status"] for r in runs) == {"success": 1, "skipped": N - 1}
    else:
        assert len(loads) == N and Counter(r["status"] for r in runs) == {"success": N}
    lake = Lake(settings.lake)
    assert len(list(lake.partition_dir("fact_pos_sales", DAY).glob("*.parquet"))) == 1
    assert lake_checksums(settings.lake) == clean
    assert lake.scan(deep=True) == [] and not [
        p for p in (lake.staging_dir / "fact_pos_sales").iterdir() if p.name != ".lock"
    ]
    assert meta.partition("pos", DAY)["status"] == "loaded"
    tally(trials=1, refresh_requests=N, writes=len(loads))


# ----------------------------------------------------------------------------- reads during rewrites
REWRITER = textwrap.dedent("""
    # Rewrites agg_sales_daily and agg_orders_daily of one date, alternating two versions, at RATE
    # partition rewrites per second (each starts on its slot, or at once if late) until the
    # file argv[2] appears; prints how many rounds (two rewrites each) and the seconds taken.
    import os, sys, time, datetime as dt
    import pyarrow.parquet as pq
    from nkdash.lake import Lake

    root, stop, day, versions = sys.argv[1], sys.argv[2], dt.date.fromisoformat(sys.argv[3]), sys.argv[4:]
    tables = {name: [pq.read_table(f"{v}/{name}.parquet") for v in versions]
              for name in ("agg_sales_daily", "agg_orders_daily")}
    lake, writes, interval = Lake(root), 0, 1 / float(os.environ["RATE"])
    print("ready", flush=True)
    started = time.monotonic()
    while not os.path.exists(stop):
        for name, data in tables.items():
            lake.write_partition(name, day, data[writes % 2])
            time.sleep(max(0.0, started + (2 * writes + 1 + (name == "agg_orders_daily")) * interval - time.monotonic()))
        writes += 1
    print(writes, time.monotonic() - started, flush=True)
""")


def version_b(table: pa.Table) -> pa.Table:
    """Other content for the same partition: every other row, money doubled."""
    table = table.take(list(range(0, table.num_rows, 2)))
    for column in ("revenue", "cost", "margin", "order_revenue", "orders"):
        i = table.schema.get_field_index(column)
        if i < 0:
            continue
        table = table.set_column(i, column, pc.multiply(table[column], 2))
    return table


@pytest.mark.slow
def test_dashboard_and_warehouse_reads_during_rewrites_see_old_or_new_never_fail(loaded_lake, tmp_path, tally):
    """A writer process rewrites one date of agg_sales_daily and agg_orders_daily in a loop (A, B,
    A, ..., RATE partition rewrites per second, 20 by default) while reader threads query it
    through the dashboards (cache off), the warehouse and the lake, and list it. Every read
    succeeds and equals what A alone or B alone gives; every listing holds exactly the A or
    the B file (a listing never sees a partition directory emptied by a swap)."""
    root = copy_lake(loaded_lake(17).lake, tmp_path / "lake")
    lake = Lake(root)
    for label in ("A", "B"):
        (tmp_path / label).mkdir()
        for name in ("agg_sales_daily", "agg_orders_daily"):
            table = lake.read_partition(name, DAY)
            pq.write_table(table if label == "A" else version_b(table), tmp_path / label / f"{name}.parquet")
    f = dash.Filters(DAY, DAY)
    sql = "SELECT * FROM agg_sales_daily WHERE date = ? ORDER BY ALL"

    def reads(at: Path) -> dict[str, object]:
        """What each reader sees of a lake."""
        db = dash.Dashboard(at, meta=None, cache_size=0)
        lake = Lake(at, read_only=True)
        return {
            "summary": dash.sales_summary(db, f),
            "by_channel": dash.sales_by_channel(db, f),
            "warehouse": warehouse.sql(sql, [DAY], lake=at),
            "lake": lake.read_partition("agg_sales_daily", DAY),
            "listing": tuple(file.path.name for file in lake.data_files("agg_sales_daily", DAY, DAY)),
        }

    expected = {}  # each partition is atomic, the two tables are not: 4 states
    for label in ("AA", "AB", "BA", "BB"):
        copy = copy_lake(root, tmp_path / f"lake-{label}")
        for name, version in zip(("agg_sales_daily", "agg_orders_daily"), label):
            Lake(copy).write_partition(name, DAY, pq.read_table(tmp_path / version / f"{name}.parquet"))
        expected[label] = reads(copy)
    assert len({expected[label]["summary"].to_json() for label in expected}) == 4

    script, stop = tmp_path / "rewriter.py", tmp_path / "stop"
    script.write_text(REWRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), str(root), str(stop), str(DAY), str(tmp_path / "A"), str(tmp_path / "B")],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "RATE": str(RATE)},
    )
    assert writer.stdout.readline().strip() == "ready"
    seen, errors, deadline = Counter(), [], time.monotonic() + float(os.environ.get("NKDASH_READ_SECONDS", "6"))
    db = dash.Dashboard(root, meta=None, cache_size=0)

    def reader(kind: str) -> None:
        while time.monotonic() < deadline:
            try:
                if kind == "dashboards":
                    got = {"summary": dash.sales_summary(db, f), "by_channel": dash.sales_by_channel(db, f)}
                elif kind == "warehouse":
                    got = {"warehouse": warehouse.sql(sql, [DAY], lake=root)}
                elif kind == "listing":
                    got = {
                        "listing": tuple(
                            file.path.name
                            for file in Lake(root, read_only=True).data_files("agg_sales_daily", DAY, DAY)
                        )
                    }
                else:
                    got = {"lake": Lake(root, read_only=True).read_partition("agg_sales_daily", DAY)}
            except Exception as exc:  # noqa: BLE001 - any reader error fails the test
                errors.append(f"{kind}: {type(exc).__name__}: {exc}")
                continue
            for name, value in got.items():
                labels = [lb for lb in expected if _same(value, expected[lb][name])]
                seen[name, labels[0] if len(labels) == 1 else "/".join(labels) or "mixed"] += 1

    threads = [threading.Thread(target=reader, args=(kind,)) for kind in ("dashboards", "warehouse", "lake", "listing")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.touch()
    rounds, seconds = writer.communicate(timeout=60)[0].split()
    writes, rate = int(rounds), 2 * int(rounds) / float(seconds)
    assert writer.returncode == 0
    assert not errors, f"{len(errors)} reader error(s), e.g. {errors[:3]}"
    assert not [k for k in seen if k[1] == "mixed"], seen
    assert {label[0] for name, label in seen if name in ("warehouse", "lake", "listing")} == {"A", "B"}, seen
    assert len({label for name, label in seen if name == "summary"}) >= 2, seen
    assert Lake(root).scan(deep=True) == []
    assert rate >= RATE / 2, f"the writer managed {rate:.1f} rewrites/s of the {RATE} asked: no stress"
    tally(trials=1, reads=sum(seen.values()), rewrites=writes * 2, rewrites_per_s=round(rate, 1))


def _same(a: object, b: object) -> bool:
    if isinstance(a, pd.DataFrame):
        return a.reset_index(drop=True).equals(b.reset_index(drop=True))
    if isinstance(a, tuple):
        return a == b
    return a.equals(b)


# ----------------------------------------------------------------------------- first runs on a new lake
OPENER = textwrap.dedent("""
    # Opens the metadata store of each of argv[3] new lakes under argv[2], in order, once the
    # file argv[1] appears (every process the same lakes: they race to create each store).
    import os, sys, time
    from nkdash.lake import Lake
    from nkdash.meta import MetaStore

    go, base, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    failures = []
    for i in range(count):
        try:
            MetaStore.for_lake(Lake(f"{base}/lake{i}")).start_run("pos", None, "manual")
        except Exception as exc:  # noqa: BLE001 - counted, shown on failure
            failures.append(f"{type(exc).__name__}: {exc}")
    print(len(failures), *failures[:3], sep="\\n", flush=True)
""")


@pytest.mark.slow
def test_first_runs_on_new_lakes_never_fail_on_the_wal_switch(tmp_path, tally):
    """Processes open the metadata store of the same new lakes at the same time, as two first
    ``nkdash refresh`` on a new lake do. Switching a file to WAL does not wait for SQLite's
    busy timeout, so a few of these used to fail with "database is locked"; each store is now
    made whole in a private file and linked into place. Every open succeeds, every store is
    in WAL mode with its full schema, and every run was recorded."""
    processes, lakes = int(os.environ.get("NKDASH_NEW_LAKE_PROCESSES", "4")), 150
    script, go = tmp_path / "opener.py", tmp_path / "go"
    script.write_text(OPENER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(go), str(tmp_path), str(lakes)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        for _ in range(processes)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    go.touch()
    failures = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        count, *examples = out.strip().splitlines()
        failures += examples if int(count) else []
    assert failures == [], failures
    for i in range(lakes):
        meta = MetaStore.for_lake(Lake(tmp_path / f"lake{i}"))
        assert len(meta.runs(dataset="pos")) == processes
        with meta._connect() as con:
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert not [p for p in meta.path.parent.iterdir() if p.name.startswith(".")]  # no private file left
    tally(trials=lakes, processes=processes, store_opens=lakes * processes)
