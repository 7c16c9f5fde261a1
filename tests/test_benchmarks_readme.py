"""``python -m benchmarks.readme``: the README's benchmark block is rewritten from a results
file, condensed per scenario, and says which part of a target was missed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks import readme
from benchmarks.report import Figure

ROOT = Path(__file__).resolve().parent.parent


def results(quick: bool = False) -> dict:
    figures = [
        Figure(
            "queries",
            "sales_summary 30d: warm p50 / p95",
            12.0,
            "ms",
            1200.0,
            "pandas, same answer",
            target="p95 ≤ 100 ms, ≥ 20x",
            met=True,
            value_text="12.0 / 14.0 ms",
            detail={"p50_ms": 12.0, "p95_ms": 14.0},
        ),
        Figure(
            "queries",
            "sales_summary 30d: cold (first query, new process)",
            170.0,
            "ms",
            1200.0,
            "pandas",
            target="≤ 1000 ms",
            met=True,
        ),
        Figure("queries", "sales_summary 30d: nkdash cache hit p50 / p95", 0.5, "ms", 12.0, "cache off, p50"),
        Figure(
            "queries",
            "stock_outs 30d: warm p50 / p95",
            101.0,
            "ms",
            294.0,
            "pandas, same answer",
            target="p95 ≤ 100 ms, ≥ 20x",
            met=False,
            value_text="101.0 / 116.0 ms",
            detail={"p50_ms": 101.0, "p95_ms": 116.0},
        ),
        Figure(
            "queries",
            "stock_outs 30d: cold (first query, new process)",
            1262.0,
            "ms",
            294.0,
            "pandas",
            target="≤ 1000 ms",
            met=False,
        ),
        Figure("queries", "sales_trend 3y monthly, daily-only layout (comparison): warm p50 / p95", 64.0, "ms"),
        Figure(
            "etl",
            "ETL 1 day: wall",
            9.5,
            "s",
            7.0,
            "plain paging loop",
            ratio_kind="overhead",
            target="≤ 1.3x the fetch",
            met=False,
        ),
        Figure("etl", "  of which pos", 2.1, "s", 1.5, "fetch", ratio_kind="overhead"),
        Figure(
            "memory",
            "peak RSS, refresh pos 31 days",
            198.0,
            "MB",
            185.0,
            "1 day",
            ratio_kind="overhead",
            target="≤ 1.2x",
            met=True,
        ),
    ]
    return {
        "meta": {
            "environment": {
                "when": "2026-11-26 02:12:31 UTC",
                "cpus": 2,
                "load_average": [2.2, 2.3, 2.8],
                "duckdb": "2.0.1",
                "pyarrow": "26",
                "pandas": "3",
            },
            "lake": "1096 days",
            "quick": quick,
            "command": "python -m benchmarks.run",
            "seconds": 561.0,
        },
        "summary": "4/6 targets met; missed: ...",
        "figures": [f.as_dict() for f in figures],
        "notes": [],
    }


def test_the_block_between_the_markers_is_replaced_and_the_rest_kept(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"# x\n\nbefore\n\n{readme.START}\nold table\n{readme.END}\n\nafter\n")
    text = readme.update(page, results())
    assert text.startswith("# x\n\nbefore\n\n") and text.endswith(f"{readme.END}\n\nafter\n")
    assert "old table" not in text and "4/6 targets met." in text and "2026-11-26 02:12:31 UTC" in text
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["sales_summary 30d"] == (
        "| sales_summary 30d | 12.0 / 14.0 ms | 170 ms | 1,200 ms | 100x faster | yes |"
    )
    assert rows["stock_outs 30d"].endswith("| **NO**: p95 116 > 100 ms; 2.9x < 20x; cold 1,262 > 1000 ms |")
    assert not any("daily-only" in r or "cache hit" in r or "of which" in r for r in rows)
    assert rows["ETL 1 day: wall"].endswith("| 1.36x | ≤ 1.3x the fetch | **NO** |")
    readme.update(page, results())  # idempotent: one block, rewritten
    assert page.read_text().count(readme.START) == 1


def test_refuses_quick_results_a_missing_file_and_a_readme_without_markers(tmp_path):
    page = tmp_path / "README.md"
    page.write_text(f"{readme.START}\n{readme.END}\n")
    quick = tmp_path / "quick.json"
    quick.write_text(json.dumps(results(quick=True)))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "benchmarks.readme", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
        )

    refused = run("--results", str(quick), "--readme", str(page))
    assert refused.returncode == 2 and "--quick" in refused.stderr
    missing = run("--results", str(tmp_path / "nope.json"), "--readme", str(page))
    assert missing.returncode == 2 and "run python -m benchmarks.run first" in missing.stderr
    assert page.read_text() == f"{readme.START}\n{readme.END}\n"  # nothing written
    page.write_text("no markers\n")
    full = tmp_path / "full.json"
    full.write_text(json.dumps(results()))
    unmarked = run("--results", str(full), "--readme", str(page))
    assert unmarked.returncode != 0 and "no <!-- benchmarks:start -->" in unmarked.stderr
    assert page.read_text() == "no markers\n"


def test_the_readme_has_a_benchmark_block_of_a_full_run():
    text = (ROOT / "README.md").read_text()
    block = text.split(readme.START, 1)[1].split(readme.END, 1)[0]
    assert "Last full run:" in block and "| sales_trend 3y monthly |" in block
