"""Figures, timing helpers and the results table (Markdown, JSON)."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Ratio = Literal["speedup", "overhead"]  # baseline / value (higher is better) or value / baseline (lower is better)


@dataclass
class Figure:
    """One row of the table: a measured value, its baseline from the same run, the target."""

    part: str  # queries, etl, memory, layout
    name: str
    value: float | None  # the number the ratio and target use
    unit: str  # ms, s, MB, rows/s, files...
    baseline: float | None = None
    baseline_name: str = ""
    ratio_kind: Ratio = "speedup"
    target: str = ""  # e.g. "p95 ≤ 100 ms"
    met: bool | None = None  # None: no target, or not measurable
    value_text: str = ""  # how to show the value when not just "<value> <unit>"
    baseline_text: str = ""
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or self.baseline is None or not self.value or not self.baseline:
            return None
        return self.baseline / self.value if self.ratio_kind == "speedup" else self.value / self.baseline

    def cells(self) -> list[str]:
        ratio = self.ratio
        ratio_text = "" if ratio is None else f"{_num(ratio)}x" + (" faster" if self.ratio_kind == "speedup" else "")
        met = {True: "yes", False: "**NO**", None: "–"}[self.met]
        value = self.value_text or (f"{_num(self.value)} {self.unit}" if self.value is not None else "n/a")
        baseline = self.baseline_text or (
            f"{_num(self.baseline)} {self.unit}" + (f" ({self.baseline_name})" if self.baseline_name else "")
            if self.baseline is not None
            else ""
        )
        name = self.name + (f" — {self.note}" if self.note else "")
        return [name, value, baseline, ratio_text, self.target, met]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


HEADER = ["figure", "value", "baseline", "ratio", "target", "met?"]
PARTS = {
    "queries": "1. Dashboard queries",
    "etl": "2. ETL throughput",
    "memory": "3. Memory",
    "ablation": "The read path, piece by piece (each turned off in the server; nkdash as it is in the same run)",
    "pages": "Pages: what a viewer waits for (nkdash serve vs plain marimo run)",
    "layout": "4. Partition layout",
    "setup": "Setup",
}


def markdown(figures: Sequence[Figure]) -> str:
    """One Markdown table, a bold separator row per part."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    part = None
    for f in figures:
        if f.part != part:
            part = f.part
            lines.append(f"| **{PARTS.get(part, part)}** |" + " |" * (len(HEADER) - 1))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in f.cells()) + " |")
    return "\n".join(lines)


def summary(figures: Sequence[Figure]) -> str:
    judged = [f for f in figures if f.met is not None]
    missed = [f for f in judged if f.met is False]
    text = f"{len(judged) - len(missed)}/{len(judged)} targets met"
    if missed:
        text += "; missed: " + ", ".join(f.name for f in missed)
    return text


def environment() -> dict[str, Any]:
    import duckdb
    import pandas
    import pyarrow

    return {
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
        "pandas": pandas.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "load_average": os.getloadavg(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def write(out: Path, figures: Sequence[Figure], meta: dict[str, Any], notes: Sequence[str] = ()) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = {"meta": meta, "summary": summary(figures), "figures": [f.as_dict() for f in figures], "notes": list(notes)}
    json_path, md_path = out / "results.json", out / "results.md"
    json_path.write_text(json.dumps(data, indent=2, default=str))
    header = (
        f"Measured {meta.get('environment', {}).get('when', '')} on {meta.get('environment', {}).get('cpus')} "
        f"CPUs (load average at start {_load(meta)}), DuckDB {meta.get('environment', {}).get('duckdb')}, "
        f"pyarrow {meta.get('environment', {}).get('pyarrow')}, pandas {meta.get('environment', {}).get('pandas')}. "
        f"Lake: {meta.get('lake', '')}."
    )
    body = [header, "", markdown(figures), "", f"**{summary(figures)}**"]
    if notes:
        body += ["", *(f"- {n}" for n in notes)]
    md_path.write_text("\n".join(body) + "\n")
    return json_path, md_path


def _load(meta: dict[str, Any]) -> str:
    load = meta.get("environment", {}).get("load_average")
    return ", ".join(f"{x:.1f}" for x in load) if load else "?"


# ----------------------------------------------------------------------------- timing
def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def repeat(fn: Callable[[], Any], runs: int, budget_s: float = 15.0, min_runs: int = 3) -> list[float]:
    """Seconds of up to ``runs`` calls; stops early past ``budget_s`` once ``min_runs`` are done."""
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    for _ in range(max(1, runs)):
        times.append(timed(fn)[0])
        if len(times) >= min_runs and time.perf_counter() > deadline:
            break
    return times


def median(times: Sequence[float]) -> float:
    return statistics.median(times)


def p95(times: Sequence[float]) -> float:
    """Nearest-rank 95th percentile (with fewer than 20 runs: the slowest)."""
    ordered = sorted(times)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _num(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"
