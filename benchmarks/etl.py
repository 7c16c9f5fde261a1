"""Parts 2 and 3: ETL throughput against a plain paging loop, and ETL memory (1 vs 31 days).

The demo Odoo runs in its own process (``python -m benchmarks.etl --serve ...``) so the
server and the ETL do not share one GIL; it is generated once per run with enough days
for both parts, and every measurement talks to it over HTTP like a real Odoo.

**Throughput.** One business date (a normal weekday: the day before the demo's last
day) through every dated dataset in the daily order (pos, invoices, purchases,
inventory, stock-quants, profit), the dimensions synced beforehand (a nightly run finds
them current: the incremental sync is a few empty calls). The client records every
``search_read`` the ETL makes; the baseline replays exactly those calls (same model,
domain, keyset cursor, fields, batch size, context) with ``client.execute`` — raw JSON,
no normalising, shaping, validating or writing: the limit a given Odoo sets. One untimed
ETL run and fetch first (first use in this process and on the demo Odoo: without it the first
ETL run paid for warming the Odoo the fetches then found warm: 1.67x in two full runs, 1.1-1.3x
after); then ETL and baseline alternate (ETL, baseline, ETL, baseline...), 3 of each (1 with
--quick); the medians are compared, and each ETL run's ratio to the fetch right after it is
logged.

**Memory.** Peak RSS (``VmHWM``, see :func:`peak_rss_mb`) of a child process running ``refresh(dataset,
31 days)`` vs one running ``refresh(dataset, 1 day)``, each on a copy of a lake whose
dimensions are loaded; the child also reports its RSS before the refresh (imports,
connection), so the growth per refresh is visible.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.report import Figure, median

REPO = Path(__file__).resolve().parent.parent
DAILY_ORDER = ("pos", "invoices", "purchases", "inventory", "stock-quants", "profit")
TARGET_ETL_RATIO, TARGET_MEMORY_RATIO = 1.3, 1.2


@dataclass(frozen=True)
class DemoSpec:
    scale: str = "full"
    days: int = 33  # 31 for the memory part, + 1 measured weekday, + the open last day
    end: dt.date = dt.date(2026, 10, 29)  # a Thursday
    version: int = 17
    tz: str = "Europe/Brussels"

    def config(self):
        from nkdash.demo.generate import DemoConfig

        return DemoConfig(version=self.version, seed=42, scale=self.scale, days=self.days, end=self.end, tz=self.tz)

    @property
    def etl_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)

    def month(self, days: int) -> list[dt.date]:
        """``days`` dates ending with :attr:`etl_day`."""
        return [self.etl_day - dt.timedelta(days=i) for i in reversed(range(days))]


# ----------------------------------------------------------------------------- the demo Odoo process
@contextlib.contextmanager
def demo_odoo(spec: DemoSpec, log: Callable[[str], None] = print) -> Iterator[str]:
    """Start the demo Odoo of ``spec`` in a child process; yields its URL."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.etl", "--serve", json.dumps(_spec_json(spec))],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line.startswith("http"):
            raise RuntimeError(f"demo Odoo did not start (exit {proc.poll()})")
        log(
            f"  demo Odoo ({spec.scale}, {spec.days} days to {spec.end}) up in {time.perf_counter() - started:.0f} s "
            f"at {line.strip()}"
        )
        yield line.strip()
    finally:
        with contextlib.suppress(Exception):
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _spec_json(spec: DemoSpec) -> dict[str, Any]:
    return {"scale": spec.scale, "days": spec.days, "end": spec.end.isoformat(), "version": spec.version, "tz": spec.tz}


def _serve_main(raw: str) -> None:
    """Child: generate and serve until stdin closes."""
    data = json.loads(raw)
    spec = DemoSpec(data["scale"], data["days"], dt.date.fromisoformat(data["end"]), data["version"], data["tz"])
    from nkdash.demo import start_demo

    server = start_demo(spec.config())
    print(server.url, flush=True)
    sys.stdin.read()
    server.stop()


def settings_for(spec: DemoSpec, url: str, lake: Path):
    from nkdash.settings import Secret, Settings

    config = spec.config()
    return Settings(
        odoo_url=url,
        odoo_db=config.db_name,
        odoo_user=config.login,
        odoo_password=Secret(config.password),
        odoo_retries=1,
        lake=lake,
        tz=spec.tz,
    )


def dims_lake(spec: DemoSpec, url: str, root: Path) -> Path:
    """A lake with the dimensions loaded (the template every measurement copies)."""
    from nkdash.etl import refresh

    report = refresh("dimensions", [spec.etl_day], settings=settings_for(spec, url, root), progress=False)
    if not report.ok:
        raise RuntimeError(report.summary())
    return root


# ----------------------------------------------------------------------------- throughput
class Recorder:
    """Wraps a client's ``execute``: records the ``search_read`` calls made, per dataset."""

    def __init__(self, client):
        self.client = client
        self.calls: list[tuple[str, str, tuple, dict]] = []
        self.dataset = ""
        inner = client.execute

        def execute(model: str, method: str, *args: Any, **kwargs: Any) -> Any:
            result = inner(model, method, *args, **kwargs)
            if method == "search_read":
                self.calls.append((self.dataset, model, args, kwargs))
                self.records = getattr(self, "records", 0) + len(result)
            return result

        client.execute = execute


def etl_once(spec: DemoSpec, url: str, template: Path, work: Path) -> tuple[float, dict[str, float], int, Recorder]:
    """Run every dated dataset for the ETL day on a copy of ``template``:
    (wall seconds, seconds per dataset, rows written, the recorded calls)."""
    from nkdash.etl import refresh
    from nkdash.lake import Lake
    from nkdash.odoo import connect

    lake_root = work / "lake"
    shutil.rmtree(lake_root, ignore_errors=True)
    shutil.copytree(template, lake_root)
    settings = settings_for(spec, url, lake_root)
    client = connect(settings)
    recorder = Recorder(client)
    lake = Lake(lake_root)
    per: dict[str, float] = {}
    rows = 0
    started = time.perf_counter()
    for name in DAILY_ORDER:
        recorder.dataset = name
        t = time.perf_counter()
        report = refresh(name, [spec.etl_day], settings=settings, client=client, lake=lake, progress=False)
        per[name] = time.perf_counter() - t
        if not report.ok:
            raise RuntimeError(report.summary())
        rows += sum(u.rows for u in report.units if u.date is not None)
    return time.perf_counter() - started, per, rows, recorder


def fetch_once(
    spec: DemoSpec, url: str, calls: list[tuple[str, str, tuple, dict]]
) -> tuple[float, dict[str, float], int]:
    """The baseline: the same ``search_read`` calls, raw (no normalising, shaping, writing)."""
    from nkdash.odoo import connect

    client = connect(settings_for(spec, url, Path(tempfile.gettempdir())))
    per: dict[str, float] = {}
    records = 0
    started = time.perf_counter()
    for dataset, model, args, kwargs in calls:
        t = time.perf_counter()
        records += len(client.execute(model, "search_read", *args, **kwargs))
        per[dataset] = per.get(dataset, 0.0) + time.perf_counter() - t
    return time.perf_counter() - started, per, records


def throughput(
    spec: DemoSpec, url: str, template: Path, work: Path, repeats: int = 2, log: Callable[[str], None] = print
) -> list[Figure]:
    etl_runs, fetch_runs = [], []
    warm = etl_once(spec, url, template, work)  # untimed: first use (see the module's docstring)
    calls: list = warm[3].calls
    fetch_once(spec, url, calls)
    log(f"  warm-up (untimed): ETL {warm[0]:.1f} s")
    rows = records = 0
    for i in range(repeats):
        if i:
            fetch_runs.append(fetch_once(spec, url, calls))
        etl_runs.append(etl_once(spec, url, template, work))
        wall, _per, rows, recorder = etl_runs[-1]
        calls, records = recorder.calls, getattr(recorder, "records", 0)
        log(
            f"  ETL run {i + 1}: {wall:.1f} s, {rows:,} rows written, {len(calls)} search_read calls, "
            f"{records:,} records"
        )
    fetch_runs.append(fetch_once(spec, url, calls))
    log(f"  fetch runs: {', '.join(f'{w:.1f} s' for w, _p, _r in fetch_runs)}")
    etl_wall, fetch_wall = median([r[0] for r in etl_runs]), median([r[0] for r in fetch_runs])
    paired = [e[0] / f[0] for e, f in zip(etl_runs, fetch_runs)]  # each ETL run / the fetch run right after it
    log(f"  ETL / fetch, run by run: {', '.join(f'{r:.2f}x' for r in paired)}")
    no_profit = median([r[0] - r[1]["profit"] for r in etl_runs]) / median(
        [r[0] - r[1].get("profit", 0.0) for r in fetch_runs]
    )
    label = f"{spec.scale} demo, {spec.etl_day} ({spec.etl_day:%a})"
    out = [
        Figure(
            "etl",
            f"ETL 1 day, 6 datasets ({label}): wall",
            etl_wall,
            "s",
            baseline=fetch_wall,
            baseline_name="plain paging loop, same records",
            ratio_kind="overhead",
            target=f"≤ {TARGET_ETL_RATIO}x the fetch",
            met=etl_wall <= TARGET_ETL_RATIO * fetch_wall,
            note=f"run by run {', '.join(f'{r:.2f}x' for r in paired)}; without the profit step {no_profit:.2f}x",
            detail={
                "etl_runs_s": [r[0] for r in etl_runs],
                "fetch_runs_s": [r[0] for r in fetch_runs],
                "paired_ratios": paired,
                "search_read_calls": len(calls),
                "records": records,
                "rows_written": rows,
            },
        ),
        Figure(
            "etl",
            "ETL throughput: rows written / ETL wall",
            rows / etl_wall,
            "rows/s",
            value_text=f"{rows / etl_wall:,.0f} rows/s",
            baseline_text=f"{records / fetch_wall:,.0f} records/s fetched by the loop",
            note=f"{rows:,} rows written from {records:,} records read",
        ),
    ]
    for name in DAILY_ORDER:
        etl_s = median([r[1][name] for r in etl_runs])
        fetch_s = median([r[1].get(name, 0.0) for r in fetch_runs])
        out.append(
            Figure(
                "etl",
                f"  of which {name}",
                etl_s,
                "s",
                baseline=fetch_s or None,
                baseline_name="fetch",
                ratio_kind="overhead",
            )
        )
    return out


# ----------------------------------------------------------------------------- memory
def memory(
    spec: DemoSpec,
    url: str,
    template: Path,
    work: Path,
    dataset: str,
    long_days: int,
    log: Callable[[str], None] = print,
) -> list[Figure]:
    results = {}
    for days in (1, long_days):
        lake_root = work / f"mem-{days}"
        shutil.rmtree(lake_root, ignore_errors=True)
        shutil.copytree(template, lake_root)
        dates = spec.month(days)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.etl",
                "--memory",
                json.dumps(_spec_json(spec)),
                url,
                str(lake_root),
                dataset,
                dates[0].isoformat(),
                dates[-1].isoformat(),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if out.returncode:
            raise RuntimeError(f"memory child failed:\n{out.stderr[-3000:]}")
        results[days] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[days]
        log(
            f"  refresh {dataset} x {days} day(s): peak RSS {r['peak_mb']:.0f} MB (before refresh "
            f"{r['before_mb']:.0f} MB), {r['rows']:,} rows in {r['seconds']:.0f} s"
        )
        shutil.rmtree(lake_root, ignore_errors=True)
    one, many = results[1], results[long_days]
    growth_one, growth_many = one["peak_mb"] - one["before_mb"], many["peak_mb"] - many["before_mb"]
    return [
        Figure(
            "memory",
            f"peak RSS, refresh {dataset} {long_days} days ({spec.scale} demo)",
            many["peak_mb"],
            "MB",
            baseline=one["peak_mb"],
            baseline_name="1 day",
            ratio_kind="overhead",
            target=f"≤ {TARGET_MEMORY_RATIO}x",
            met=many["peak_mb"] <= TARGET_MEMORY_RATIO * one["peak_mb"],
            detail={"one_day": one, "many_days": many},
        ),
        Figure(
            "memory",
            "  growth during the refresh (peak - RSS before it)",
            growth_many,
            "MB",
            baseline=growth_one,
            baseline_name="1 day",
            ratio_kind="overhead",
            note=f"{many['rows']:,} vs {one['rows']:,} rows",
        ),
    ]


def _memory_main(raw: str, url: str, lake_root: str, dataset: str, first: str, last: str) -> None:
    """Child: one refresh; prints peak RSS (MB) before and after, rows, seconds."""
    import psutil

    from nkdash import dates as cal
    from nkdash.etl import refresh
    from nkdash.lake import Lake
    from nkdash.odoo import connect

    data = json.loads(raw)
    spec = DemoSpec(data["scale"], data["days"], dt.date.fromisoformat(data["end"]), data["version"], data["tz"])
    settings = settings_for(spec, url, Path(lake_root))
    client = connect(settings)
    client.fields("pos.order")
    before = psutil.Process().memory_info().rss / 2**20
    started = time.perf_counter()
    report = refresh(
        dataset,
        cal.days(dt.date.fromisoformat(first), dt.date.fromisoformat(last)),
        settings=settings,
        client=client,
        lake=Lake(lake_root),
        progress=False,
    )
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(report.summary())
    rows = sum(u.rows for u in report.units if u.date is not None)
    print(json.dumps({"peak_mb": peak_rss_mb(), "before_mb": before, "rows": rows, "seconds": seconds}))


def peak_rss_mb() -> float:
    """This process's peak RSS since exec (``VmHWM``). Not ``ru_maxrss``: on Linux a child
    inherits its parent's RSS at fork as its starting high-water mark, so a benchmark
    process that once held gigabytes would inflate every child's ``ru_maxrss``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- both parts
def run(
    quick: bool,
    *,
    work: Path,
    parts: set[str] = frozenset({"etl", "memory"}),
    log: Callable[[str], None] = print,
    dataset: str = "pos",
) -> tuple[list[Figure], list[str]]:
    """Throughput on a demo of 3 days (the ETL day is its middle one, a Wednesday), memory on
    one of 33 days (31 to refresh). Two demos: the demo Odoo's searches slow down as its
    history grows (it scans, where Odoo has indexes), which would flatter the ETL ratio."""
    scale = "small" if quick else "full"
    figures: list[Figure] = []
    notes = []
    if "etl" in parts:
        spec = DemoSpec(scale=scale, days=3)
        with demo_odoo(spec, log) as url:
            template = dims_lake(spec, url, work / "dims-etl")
            figures += throughput(spec, url, template, work, repeats=1 if quick else 3, log=log)
        notes.append(
            f"ETL: demo Odoo {spec.scale} scale, {spec.days} days, Odoo {spec.version}, JSON-RPC, batch "
            "size 1000, in its own process on the same machine."
        )
        from benchmarks import healing

        more_figures, more_notes = healing.run(quick, work=work, log=log)
        figures += more_figures
        notes += more_notes
    if "memory" in parts:
        long_days = 3 if quick else 31
        spec = DemoSpec(scale=scale, days=long_days + 2)
        with demo_odoo(spec, log) as url:
            template = dims_lake(spec, url, work / "dims-memory")
            figures += memory(spec, url, template, work, dataset, long_days, log=log)
    return figures, notes


if __name__ == "__main__":
    if sys.argv[1] == "--serve":
        _serve_main(sys.argv[2])
    elif sys.argv[1] == "--memory":
        _memory_main(*sys.argv[2:8])
