"""``python -m benchmarks.run [--quick] [--only NAME] [--years 3]``: the benchmark table.

Parts (``--only`` takes a part name, or a substring of a query scenario's name):

- ``queries``  every dashboard query: warm p50/p95, cold, cache hit, vs pandas
- ``etl``      one day of the full demo company, all datasets, vs a plain paging loop
- ``memory``   peak RSS of a 31-day vs a 1-day refresh
- ``ablation`` what each piece of the dashboards' read path buys in page time
- ``serve``    the pages: 1, 20 and 50 viewers and a filter change, ``nkdash serve`` vs plain ``marimo run``
- ``layout``   daily partitions vs compacted months
- ``prototypes`` what the ETL's overlaps (prefetched pages, totals alongside) are worth

Prints a Markdown table (figure, value, baseline, ratio, target, met?) and writes it to
``benchmarks/out/results.md`` and ``benchmarks/out/results.json``. Exit status is 0
whether targets are met or not: benchmarks report, they do not fail.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import synthetic
from benchmarks.report import Figure, environment, markdown, summary, write

PARTS = ("queries", "etl", "memory", "serve", "ablation", "layout", "prototypes")
QUICK_SCENARIOS = (
    "category_tree",
    "sales_summary 30d",
    "sales_trend 45d monthly",
    "profit_by store 30d",
    "stock_levels location 30d",
    "purchases_by vendor 30d",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny lake and demo, few runs (< 1 min): a smoke run")
    parser.add_argument(
        "--only", metavar="NAME", help=f"one part ({', '.join(PARTS)}) or query scenarios whose name contains NAME"
    )
    parser.add_argument("--years", type=float, default=3.0, help="years of history in the synthetic lake (default 3)")
    parser.add_argument("--runs", type=int, help="warm runs per query (default 20, --quick 3)")
    parser.add_argument("--viewers", type=int, help="concurrent dashboard viewers (default 20, --quick 4)")
    parser.add_argument("--crowd", type=int, help="the larger crowd of viewers (default 50, --quick 8)")
    parser.add_argument(
        "--out", type=Path, default=synthetic.OUT, help="where results.md and results.json go (default benchmarks/out)"
    )
    parser.add_argument(
        "--cache", type=Path, default=synthetic.OUT, help="where generated lakes are cached (default benchmarks/out)"
    )
    args = parser.parse_args(argv)
    quick = args.quick
    runs = args.runs or (3 if quick else 20)
    viewers = args.viewers or (4 if quick else 20)
    crowd = args.crowd or (8 if quick else 50)
    parts, scenario = _selection(args.only)
    log = _logger()
    started = time.perf_counter()
    spec = synthetic.QUICK if quick else synthetic.LakeSpec.years(args.years)
    figures: list[Figure] = []
    notes: list[str] = []
    root = None
    if {"queries", "serve", "ablation", "layout", "prototypes"} & parts:
        log(f"lake: {spec.describe()}")
        t = time.perf_counter()
        root = synthetic.build(spec, out=args.cache, log=log)
        manifest = synthetic.cached(spec, args.cache) or {}
        figures.append(
            Figure(
                "setup",
                "synthetic lake: fact_sales rows, files",
                manifest.get("rows", {}).get("fact_sales"),
                "rows",
                value_text=f"{manifest.get('rows', {}).get('fact_sales', 0):,} rows, "
                f"{manifest.get('files', 0):,} files, {manifest.get('bytes', 0) / 1e9:.2f} GB",
                note=f"generated in {manifest.get('seconds', 0):.0f} s"
                + (" (cached)" if time.perf_counter() - t < 5 else ""),
            )
        )
        if manifest.get("missing_columns"):
            notes.append(
                "columns the generator does not know (written as nulls): " + ", ".join(manifest["missing_columns"])
            )
    work = Path(tempfile.mkdtemp(prefix="nkdash-bench-"))
    meta = {
        "environment": environment(),
        "lake": spec.describe(),
        "quick": quick,
        "parts": sorted(parts),
        "command": " ".join(["python -m benchmarks.run", *sys.argv[1:]]),
    }

    def part(name: str, title: str, measure) -> None:
        if name not in parts:
            return
        log(title)
        try:
            got, more = measure()
        except Exception as exc:  # noqa: BLE001 — one broken part must not lose the others' figures
            log(f"  {name} FAILED: {type(exc).__name__}: {exc}")
            notes.append(f"part {name} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            return
        figures.extend(got)
        notes.extend(more)
        write(args.out, _ordered(figures), {**meta, "partial": True}, notes)  # a killed run keeps what it measured

    def run_queries():
        from benchmarks import layout, queries

        chosen = None if scenario or not quick else QUICK_SCENARIOS
        measured = layout.compacted_copy(root, log)  # the layout nkdash maintains (nightly compaction)
        got, more = queries.run(
            measured,
            daily=root,
            runs=runs,
            only=scenario,
            names=chosen,
            cold=True,
            baseline_runs=1 if quick else 3,
            log=log,
        )
        counts = layout.file_counts(measured)
        got.insert(
            0,
            Figure(
                "queries",
                "lake measured: months older than 30 days compacted (nkdash.storage.compact, as the nightly task)",
                sum(counts.values()),
                "files",
                value_text=f"{sum(counts.values()):,} data files ({counts.get('fact_sales', 0)} of fact_sales)",
                note="pandas baseline reads the daily-only files",
            ),
        )
        return got, more

    def run_etl(which: set[str]):
        from benchmarks import etl

        return etl.run(quick, work=work, parts=which, log=log)

    def run_serve():
        from benchmarks import layout, serve

        measured = layout.compacted_copy(root, log)  # the layout nkdash maintains (nightly compaction)
        return serve.run(measured, n=viewers, most=crowd, changes=2 if quick else 10, log=log)

    def run_ablation():
        from benchmarks import ablation, layout

        measured = layout.compacted_copy(root, log)
        pieces = ablation.PIECES[:1] if quick else ablation.PIECES  # a smoke run: one piece shows the part works
        return ablation.run(measured, n=viewers, changes=2 if quick else 10, pieces=pieces, log=log)

    def run_layout():
        from benchmarks import layout

        return layout.run(root, runs=3 if quick else 5, log=log)

    def run_prototypes():
        from benchmarks import prototypes

        current = {
            f.name.split(": warm")[0]: f.detail["p50_ms"] / 1000
            for f in figures
            if f.part == "queries" and f.name.endswith(": warm p50 / p95")
        }
        return prototypes.run(root, quick=quick, work=work, current=current, log=log)

    part("queries", "1. dashboard queries", run_queries)
    if {"etl", "memory"} & parts:
        part(
            "etl" if "etl" in parts else "memory",
            "2-3. ETL throughput and memory",
            lambda: run_etl({p for p in ("etl", "memory") if p in parts}),
        )
    part("serve", f"3b. pages: 1, {viewers} and {crowd} viewers, nkdash serve vs plain marimo run", run_serve)
    part("ablation", "3c. the read path, piece by piece", run_ablation)
    part("layout", "4. partition layout", run_layout)
    part("prototypes", "5. prototypes of the proposed fixes", run_prototypes)
    seconds = time.perf_counter() - started
    meta["seconds"] = round(seconds, 1)
    json_path, md_path = write(args.out, _ordered(figures), meta, notes)
    print()
    print(markdown(_ordered(figures)))
    print()
    print(summary(figures))
    for note in notes:
        print(f"- {note}")
    print(f"\n{len(figures)} figures in {seconds:.0f} s; written to {md_path} and {json_path}")
    return 0


def _selection(only: str | None) -> tuple[set[str], str | None]:
    if only is None:
        return set(PARTS), None
    if only in PARTS:
        return {only}, None
    return {"queries"}, only


def _ordered(figures: list[Figure]) -> list[Figure]:
    rank = {
        p: i for i, p in enumerate(("setup", "pages", "ablation", "queries", "etl", "memory", "layout", "prototypes"))
    }
    return sorted(figures, key=lambda f: rank.get(f.part, 99))  # stable: keeps each part's order


def _logger():
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    return log


if __name__ == "__main__":
    sys.exit(main())
