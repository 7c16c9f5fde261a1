"""Put the latest benchmark table into README.md: ``python -m benchmarks.readme``.

Reads ``benchmarks/out/results.json`` (written by ``python -m benchmarks.run``) and
replaces the block between the README's ``<!-- benchmarks:start -->`` and
``<!-- benchmarks:end -->`` markers with a condensed table: one row per dashboard query
scenario (warm p50 / p95, cold, the pandas baseline, the speed-up and whether its targets
were met), then the ETL, memory and layout figures, each with its target. The full table
(cache hits, per-dataset ETL figures, the daily-only layout) stays in
``benchmarks/out/results.md``. Nothing is measured here.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from benchmarks.report import Figure

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
WARM, COLD = ": warm p50 / p95", ": cold (first query, new process)"


def _figure(row: dict[str, Any]) -> Figure:
    return Figure(**{k: v for k, v in row.items() if k != "ratio"})


def _missed(f: Figure) -> list[str]:
    """What of ``f``'s target was missed, with the figure: e.g. ``7.9x < 20x``."""
    if f.met is not False:
        return []
    out = []
    p95, ratio = f.detail.get("p95_ms"), f.ratio
    if (m := re.search(r"p95 ≤ (\d+) ms", f.target)) and p95 is not None and p95 > float(m[1]):
        out.append(f"p95 {p95:.0f} > {m[1]} ms")
    if (m := re.search(r"≥ (\d+)x", f.target)) and ratio is not None and ratio < float(m[1]):
        out.append(f"{ratio:.1f}x < {m[1]}x")
    if (m := re.fullmatch(r"≤ (\d+) ms", f.target.strip())) and f.value is not None and f.value > float(m[1]):
        out.append(f"cold {f.value:,.0f} > {m[1]} ms")
    return out or [f.target]


def _met(*figures: Figure | None) -> str:
    judged = [f for f in figures if f is not None and f.met is not None]
    if not judged:
        return "–"
    missed = [text for f in judged for text in _missed(f)]
    return "yes" if not missed else "**NO**: " + "; ".join(missed)


def queries_table(figures: list[Figure]) -> list[str]:
    """One row per scenario: the warm and cold figures side by side."""
    rows = [
        "| query scenario | warm p50 / p95 | cold | pandas baseline | speed-up (warm p50) | targets met? |",
        "|---|---|---|---|---|---|",
    ]
    by_name = {f.name: f for f in figures}
    for f in figures:
        if not f.name.endswith(WARM) or "daily-only layout" in f.name:
            continue
        scenario = f.name[: -len(WARM)]
        cold = by_name.get(scenario + COLD)
        cells = f.cells()
        baseline = re.sub(r" \(.*", "", cells[2]) or "–"  # "1,015 ms (pandas, same answer)" -> "1,015 ms"
        rows.append(
            f"| {scenario} | {cells[1]} | {cold.cells()[1] if cold else '–'} | "
            f"{baseline} | {cells[3] or '–'} | {_met(f, cold)} |"
        )
    return rows


def pages_table(figures: list[Figure]) -> list[str]:
    """What a viewer waits for (nkdash serve against plain marimo run), then what each piece of
    the read path buys in page time (the ablation): every row, sub-rows included."""
    rows = ["| figure | nkdash | baseline | ratio | target | met? |", "|---|---|---|---|---|---|"]
    for f in figures:
        if f.part in ("pages", "ablation"):
            cells = [c.replace("|", "\\|") for c in f.cells()]
            cells[0] = cells[0].strip()
            rows.append("| " + " | ".join(cells) + " |")
    return rows if len(rows) > 2 else []


def other_table(figures: list[Figure]) -> list[str]:
    """The ETL, memory and layout figures that have a target or a ratio."""
    rows = ["| figure | value | baseline | ratio | target | met? |", "|---|---|---|---|---|---|"]
    for f in figures:
        if f.part in ("etl", "memory", "layout") and not f.name.startswith("  ") and (f.target or f.ratio):
            rows.append("| " + " | ".join(c.replace("|", "\\|") for c in f.cells()) + " |")
    return rows


def block(results: dict[str, Any]) -> str:
    figures = [_figure(row) for row in results["figures"]]
    env = results["meta"]["environment"]
    load = ", ".join(f"{x:.1f}" for x in env["load_average"])
    head = (
        f"Last full run: {env['when']}, {env['cpus']} CPUs (load average {load} at the start), "
        f"DuckDB {env['duckdb']}, pyarrow {env['pyarrow']}, pandas {env['pandas']}; "
        f"{results['meta']['lake']}; `{results['meta']['command']}` took {results['meta']['seconds']:.0f} s. "
        f"{results['summary'].split(';')[0]}."
    )
    pages = pages_table(figures)
    return "\n".join(
        [
            START,
            "",
            head,
            "",
            *pages,
            *([""] if pages else []),
            *queries_table(figures),
            "",
            *other_table(figures),
            "",
            END,
        ]
    )


def update(readme: Path, results: dict[str, Any]) -> str:
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: no {START} ... {END} block to replace")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    new = before + block(results) + after
    readme.write_text(new)
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readme", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "out" / "results.json")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        print(f"error: {args.results} not found: run python -m benchmarks.run first", file=sys.stderr)
        return 2
    results = json.loads(args.results.read_text())
    if results["meta"].get("quick"):
        print("error: these are --quick results (tiny lake): the README shows a full run", file=sys.stderr)
        return 2
    update(args.readme, results)
    print(f"{args.readme}: benchmark table from {results['meta']['environment']['when']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
