"""Part 4: the lake's daily partitions vs the same data compacted by ``nkdash.storage``.

The compacted lake is a hard-linked copy of the benchmark lake (lake files are never
modified in place) on which ``nkdash.storage.compact`` merges every month that ended more
than 30 days before the lake's last date into one month file per table; the recent days
stay daily. It is cached beside the lake (``<key>-compacted``).

Compared on both layouts: file counts; the warm time (nkdash's cache off) of the 30-day
KPI query, the 3-year monthly trend and the 3-year profit by category through
``nkdash.dashboards`` (which registers month files with their date span); DuckDB's own
reader over a ``**/*.parquet`` glob (the orientation figures of the issue); and whether
``nkdash.dashboards`` gives the same answers on both.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd

from benchmarks.queries import Params
from benchmarks.report import Figure, median, ms, repeat
from nkdash import dashboards as d
from nkdash.dashboards import Dashboard
from nkdash.lake import PARTITIONED, Lake, layout, months
from nkdash.lake.files import link_tree

COMPACT_AFTER_DAYS = 30


def compacted_copy(root: Path, log: Callable[[str], None] = print) -> Path:
    """The compacted twin of the lake at ``root`` (made once, cached)."""
    from nkdash import storage

    target = root.parent / f"{root.name}-compacted"
    done = target.parent / f"{target.name}.json"
    code = _code_version()
    if done.is_file() and target.is_dir() and json.loads(done.read_text()).get("code") == code:
        return target
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    target.mkdir(parents=True)
    link_tree(root / "star-schema", target / "star-schema")
    shutil.copytree(root / "_meta", target / "_meta")
    last = max(Lake(root, read_only=True).partitions("agg_profit_daily"))
    report = storage.compact(target, older_than_days=COMPACT_AFTER_DAYS, today=last + dt.timedelta(days=1))
    seconds = time.perf_counter() - started
    log(
        f"  compacted copy made in {seconds:.0f} s: {report.files_before} daily files -> {report.files_after} "
        f"month files ({len(report.skipped)} month(s) skipped)"
    )
    done.write_text(
        json.dumps(
            {
                "seconds": seconds,
                "files_before": report.files_before,
                "code": code,
                "files_after": report.files_after,
                "skipped": len(report.skipped),
            }
        )
    )
    return target


def _code_version() -> str:
    """The fingerprint of what decides a month file's layout (the compaction functions and
    the lake's layout constants): a change to them re-makes the compacted copy; other edits
    to nkdash.lake or nkdash.storage do not."""
    import hashlib
    import inspect

    from nkdash import lake, storage

    parts = [
        inspect.getsource(fn)
        for fn in (
            lake.Lake.compact_month,
            lake.Lake._rewrite_month,
            months.write_month_file,
            months._write_group,
            storage.compact,
        )
    ]
    parts += [
        repr(
            (layout.ROW_GROUP_ROWS, layout.COMPACT_GROUP_ROWS, layout.COMPRESSION, layout.COMPACT_DIR, layout.INDEX_KEY)
        )
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def file_counts(root: Path) -> dict[str, int]:
    lake = Lake(root, read_only=True)
    return {t: sum(1 for _ in lake.partition_files(t)) for t in PARTITIONED}


def queries(p: Params) -> list[tuple[str, Callable[[Dashboard], pd.DataFrame]]]:
    f30, whole = p.days(30), p.all
    return [
        ("sales_summary 30d", lambda db: d.sales_summary(db, f30)),
        (f"sales_trend {p.span} monthly", lambda db: d.sales_trend(db, whole, "month")),
        (f"profit_by category {p.span}", lambda db: d.profit_by(db, whole, "category")),
    ]


def glob_times(root: Path, p: Params) -> dict[str, float]:
    """DuckDB's own reader over a ``**/*.parquet`` glob (hive partitioning)."""
    star = root / "star-schema"
    con = duckdb.connect(":memory:")
    for t in ("fact_sales", "agg_profit_daily"):
        con.execute(
            f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{star / t}/**/*.parquet', "
            "hive_partitioning = true, union_by_name = false)"
        )
    kpi = (
        "SELECT sum(revenue), count(DISTINCT order_ref) FROM fact_sales WHERE date BETWEEN ? AND ?",
        [p.end - dt.timedelta(days=29), p.end],
    )
    trend = (
        "SELECT date_trunc('month', date) AS m, sum(revenue), sum(margin) FROM agg_profit_daily "
        "WHERE date BETWEEN ? AND ? GROUP BY ALL",
        [p.start, p.end],
    )
    out = {}
    for name, (sql, args) in (("30-day KPI (fact_sales)", kpi), (f"{p.span} monthly trend (agg)", trend)):
        con.execute(sql, args).fetchall()
        out[name] = median(repeat(lambda: con.execute(sql, args).fetchall(), 5, budget_s=8.0, min_runs=2))
    return out


def run(root: Path, *, runs: int = 5, log: Callable[[str], None] = print) -> tuple[list[Figure], list[str]]:
    notes: list[str] = []
    compact_root = compacted_copy(root, log)
    p = Params.of(root)
    daily_files, compact_files = file_counts(root), file_counts(compact_root)
    figures = [
        Figure(
            "layout",
            "data files, all dated tables",
            sum(compact_files.values()),
            "files",
            baseline=sum(daily_files.values()),
            baseline_name="daily",
            ratio_kind="overhead",
            value_text=f"{sum(compact_files.values()):,} (compacted)",
            baseline_text=f"{sum(daily_files.values()):,} (daily)",
            note=f"months older than {COMPACT_AFTER_DAYS} days compacted",
            detail={"daily": daily_files, "compacted": compact_files},
        )
    ]
    daily_db, compact_db = Dashboard(root, meta=None), Dashboard(compact_root, meta=None)
    for name, call in queries(p):
        times = {}
        for label, db in (("daily", daily_db), ("compacted", compact_db)):

            def uncached(db: Dashboard = db) -> pd.DataFrame:
                db.clear_cache()
                return call(db)

            uncached()  # the first call loads the tables the dashboards hold in memory: warm is what follows
            times[label] = median(repeat(uncached, runs, budget_s=10.0, min_runs=2))
        log(
            f"  {name}: daily {times['daily'] * 1000:.0f} ms, compacted {times['compacted'] * 1000:.0f} ms "
            f"(nkdash.dashboards, cache off)"
        )
        figures.append(
            Figure(
                "layout",
                f"{name}, nkdash.dashboards warm: compacted vs daily",
                ms(times["compacted"]),
                "ms",
                baseline=ms(times["daily"]),
                baseline_name="daily",
                ratio_kind="speedup",
            )
        )
    for label, where in (("daily", root), ("compacted", compact_root)):
        for name, seconds in glob_times(where, p).items():
            figures.append(Figure("layout", f"DuckDB read_parquet glob, {name}, {label}", ms(seconds), "ms"))
    figures[-4:] = _pair_globs(figures[-4:])
    same = _same_answers(root, compact_root, p)
    figures.append(
        Figure(
            "layout",
            "nkdash.dashboards on the compacted lake: same answers as on the daily one",
            None,
            "",
            value_text="yes" if all(same.values()) else "**NO**",
            target="same answers",
            met=all(same.values()),
            detail=same,
        )
    )
    if not all(same.values()):
        notes.append(
            "nkdash.dashboards on a compacted lake answers differently from the daily lake for: "
            + ", ".join(k for k, v in same.items() if not v)
        )
    return figures, notes


def _pair_globs(rows: list[Figure]) -> list[Figure]:
    """daily/compacted glob rows -> one row per query (compacted vs daily)."""
    out = []
    half = len(rows) // 2
    for daily, compacted in zip(rows[:half], rows[half:]):
        name = daily.name.removesuffix(", daily")
        out.append(
            Figure(
                "layout",
                f"{name}: compacted vs daily",
                compacted.value,
                "ms",
                baseline=daily.value,
                baseline_name="daily",
                ratio_kind="speedup",
            )
        )
    return out


def _same_answers(root: Path, compact_root: Path, p: Params) -> dict[str, bool]:
    out = {}
    daily, compacted = Dashboard(root, meta=None, cache_size=0), Dashboard(compact_root, meta=None, cache_size=0)
    for name, call in queries(p):
        a, b = call(daily), call(compacted)
        out[name] = a.shape == b.shape and bool(
            (a.select_dtypes("number").fillna(0).round(2) == b.select_dtypes("number").fillna(0).round(2)).all().all()
        )
    return out
