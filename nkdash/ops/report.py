"""ETL performance over the last N days: runs, failures, rows, durations, throughput, query timings."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from nkdash.etl.freshness import read_only_meta
from nkdash.lake import Lake
from nkdash.settings import Settings


@dataclass(frozen=True)
class DatasetStats:
    dataset: str
    runs: int
    failures: int
    rows: int
    seconds: float
    slowest: float

    @property
    def throughput(self) -> float:
        """Rows loaded per second of ETL time."""
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class QueryStats:
    name: str
    count: int
    median: float
    p95: float
    slowest: float


@dataclass
class MonitorReport:
    since: dt.datetime
    datasets: list[DatasetStats] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    queries: list[QueryStats] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)  # every run, listed when verbose

    def text(self) -> str:
        lines = [
            f"ETL runs since {self.since:%Y-%m-%d %H:%M} UTC",
            f"  {'dataset':<13} {'runs':>5} {'failed':>6} {'rows':>9} {'seconds':>8} {'slowest':>8} {'rows/s':>8}",
        ]
        lines += [
            f"  {s.dataset:<13} {s.runs:>5} {s.failures:>6} {s.rows:>9} {s.seconds:>8.1f} {s.slowest:>8.2f} "
            f"{s.throughput:>8.0f}"
            for s in self.datasets
        ] or ["  (no runs)"]
        if self.failures:
            lines.append("failures:")
            lines += [
                f"  {r['started_at']:%Y-%m-%d %H:%M} {r['dataset']} {r['date'] or ''}: {r['error']}"
                for r in self.failures
            ]
        lines.append("query timings (seconds):")
        lines += [
            f"  {q.name:<30} n={q.count:<5} median {q.median:.3f}  p95 {q.p95:.3f}  max {q.slowest:.3f}"
            for q in self.queries
        ] or ["  (none recorded)"]
        if self.runs:
            lines.append("runs:")
            lines += [
                f"  {r['started_at']:%Y-%m-%d %H:%M:%S} {r['dataset']:<13} {r['date'] or ''!s:<10} "
                f"{r['trigger']:<8} {r['status']:<8} {r['rows'] or 0:>7} rows {r['duration_s'] or 0:>7.2f}s"
                for r in self.runs
            ]
        return "\n".join(lines)


def monitor(
    days: int = 7,
    verbose: bool = False,
    *,
    settings: Settings | None = None,
    lake: Lake | None = None,
    now: dt.datetime | None = None,
) -> MonitorReport:
    """ETL performance and failures over the last ``days`` days, and query timings."""
    meta = read_only_meta(settings, lake)
    since = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)
    runs = [r for r in meta.runs(since=since) if r["status"] != "running"]
    report = MonitorReport(since, failures=[r for r in runs if r["status"] == "failed"], runs=runs if verbose else [])
    by_dataset: dict[str, list[dict]] = defaultdict(list)
    for run in runs:
        by_dataset[run["dataset"]].append(run)
    report.datasets = [dataset_stats(name, group) for name, group in sorted(by_dataset.items())]
    timings: dict[str, list[float]] = defaultdict(list)
    for timing in meta.query_timings(since=since):
        timings[timing["name"]].append(timing["seconds"])
    report.queries = [query_stats(name, seconds) for name, seconds in sorted(timings.items())]
    return report


def dataset_stats(dataset: str, runs: list[dict]) -> DatasetStats:
    durations = [r["duration_s"] or 0.0 for r in runs]
    return DatasetStats(
        dataset,
        len(runs),
        sum(r["status"] == "failed" for r in runs),
        sum(r["rows"] or 0 for r in runs if r["status"] == "success"),
        sum(durations),
        max(durations, default=0.0),
    )


def query_stats(name: str, seconds: list[float]) -> QueryStats:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return QueryStats(name, len(ordered), statistics.median(ordered), p95, ordered[-1])
