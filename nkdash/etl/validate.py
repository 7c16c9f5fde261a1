"""Validation of one business date: does the lake say what Odoo says?

Per dataset loaded for the date:

- every parquet file is readable: the tables' structure and footers (``lake.scan``), and
  the date's files read in full;
- the lake's count and totals equal Odoo's own, counted and summed by Odoo
  (``read_group`` / ``formatted_read_group``) over the dataset's rules;
- the checks declared on each table (:mod:`nkdash.etl.datasets.checks`) hold: keys not null,
  no duplicate source lines, accepted values, keys present in the dimensions,
  ``margin = revenue - cost``, ``agg_profit_daily`` = sums of ``fact_sales``, the
  other aggregates recomputed from ``fact_sales``.

This module is the one generic validator: :data:`EVALUATORS` maps each kind of check to
how it is evaluated. Results are stored in the metadata store.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from nkdash.errors import LakeError
from nkdash.etl.datasets import DATED, Context, Dataset, get
from nkdash.etl.datasets.base import Totals
from nkdash.etl.datasets.checks import (
    AcceptedValues,
    Difference,
    NotNull,
    PartitionDate,
    Recomputed,
    Relationship,
    SumsOf,
    Unique,
)
from nkdash.etl.runner import session
from nkdash.lake import Lake, Problem
from nkdash.odoo import OdooClient
from nkdash.settings import Settings

TOTALS_TOLERANCE = 0.01  # money and quantities: a cent (Odoo sums exact decimals, the lake floats)


SUMS_TOLERANCE = 1e-6  # lake vs lake: float summation order only


SHOWN = 5  # offending values quoted in a failure


@dataclass(frozen=True)
class CheckResult:
    table: str
    check: str
    ok: bool
    detail: str = ""


@dataclass
class DatasetValidation:
    dataset: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]


@dataclass
class ValidationReport:
    date: dt.date
    datasets: list[DatasetValidation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.datasets) and all(d.ok for d in self.datasets)

    def text(self) -> str:
        """A clear report: one line per dataset, one per failed check."""
        if not self.datasets:
            return f"validation of {self.date}: FAILED — nothing is loaded for this date"
        checks = sum(len(d.results) for d in self.datasets)
        lines = [
            f"validation of {self.date}: {'OK' if self.ok else 'FAILED'} "
            f"({len(self.datasets)} dataset(s), {checks} checks)"
        ]
        for d in self.datasets:
            passed = len(d.results) - len(d.failures)
            lines.append(f"  {d.dataset:<13} {'ok  ' if d.ok else 'FAIL'} {passed}/{len(d.results)} checks")
            lines += [f"      x {r.table} {r.check}: {r.detail}" for r in d.failures]
        return "\n".join(lines)


def validate(
    day: dt.date,
    datasets: Iterable[str] | None = None,
    *,
    settings: Settings | None = None,
    client: OdooClient | None = None,
    lake: Lake | None = None,
) -> ValidationReport:
    """Validate ``day`` for ``datasets`` (default: every dated dataset loaded for it)."""
    report = ValidationReport(day)
    with session(settings, client, lake, [day]) as ctx:
        specs = [get(name) for name in datasets] if datasets else loaded_specs(ctx, day)
        tables = [t for spec in specs for t in spec.table_names]
        problems = ctx.lake.scan(tables, deep=False) if tables else []
        for spec in specs:
            result = validate_dataset(ctx, spec, day, [p for p in problems if p.date in (day, None)])
            ctx.meta.record_validation(spec.name, day, result.ok, [asdict(r) for r in result.results])
            report.datasets.append(result)
    return report


def loaded_specs(ctx: Context, day: dt.date) -> list[Dataset]:
    return [get(name) for name in DATED if any(ctx.lake.has_partition(t, day) for t in get(name).table_names)]


def validate_dataset(ctx: Context, spec: Dataset, day: dt.date, problems: list[Problem]) -> DatasetValidation:
    result = DatasetValidation(spec.name)
    for problem in problems:
        if problem.table in spec.table_names:
            result.results.append(
                CheckResult(problem.table, "readable", False, f"{problem.kind}: {problem.path} ({problem.detail})")
            )
    tables = read_tables(ctx, spec, day, result)
    if tables is None:
        return result
    for table in spec.tables:
        for check in table.checks:
            ok, detail = EVALUATORS[type(check)](check, tables[table.name], day, ctx, tables)
            result.results.append(CheckResult(table.name, str(check), ok, detail))
    if spec.source_totals and spec.lake_totals:
        result.results += compare_totals(spec, spec.lake_totals(tables), spec.source_totals(ctx, day))
    return result


def read_tables(ctx: Context, spec: Dataset, day: dt.date, result: DatasetValidation) -> dict[str, pa.Table] | None:
    """The dataset's tables for ``day``, or None (with a failed result) if one is missing."""
    tables = {}
    for name in spec.table_names:
        try:
            tables[name] = ctx.lake.read_partition(name, day) if spec.partitioned else ctx.lake.read_whole(name)
        except LakeError as exc:
            result.results.append(CheckResult(name, "loaded", False, _not_loaded(ctx, name, day, exc)))
    return tables if len(tables) == len(spec.tables) else None


def _not_loaded(ctx: Context, table: str, day: dt.date, exc: LakeError) -> str:
    """Why a table of ``day`` cannot be read; a missing derived table whose source is there
    says so: the lake alone rebuilds it (``nkdash backfill``, :mod:`nkdash.derived`)."""
    from nkdash.etl.derived import DERIVATIONS

    source = next((d.source for d in DERIVATIONS if table in d.tables), None)
    if source and not ctx.lake.has_partition(table, day) and ctx.lake.has_partition(source, day):
        return f"missing, though {source} is there: `nkdash backfill` rebuilds it from the lake (no Odoo)"
    return str(exc)


def compare_totals(spec: Dataset, lake: Totals, odoo: Totals) -> list[CheckResult]:
    table = spec.tables[0].name
    return [
        CheckResult(
            table,
            f"odoo {key}",
            _close(lake.get(key, 0.0), odoo[key], TOTALS_TOLERANCE),
            f"lake {lake.get(key, 0.0):.2f}, Odoo {odoo[key]:.2f}",
        )
        for key in odoo
    ]


def _close(a: float, b: float, tolerance: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=tolerance)


Outcome = tuple[bool, str]


def _quote(values: Iterable[object]) -> str:
    values = list(values)
    more = f" (+{len(values) - SHOWN} more)" if len(values) > SHOWN else ""
    return ", ".join(map(str, values[:SHOWN])) + more


def not_null(check: NotNull, table: pa.Table, *_: object) -> Outcome:
    nulls = table.column(check.column).null_count
    return nulls == 0, f"{nulls} null(s)" if nulls else ""


def unique(check: Unique, table: pa.Table, *_: object) -> Outcome:
    counts = table.group_by(list(check.columns), use_threads=False).aggregate([([], "count_all")])
    dupes = counts.filter(pc.greater(counts.column("count_all"), 1))
    keys = zip(*(dupes.column(c).to_pylist() for c in check.columns))
    return dupes.num_rows == 0, f"{dupes.num_rows} duplicated key(s): {_quote(keys)}" if dupes.num_rows else ""


def accepted_values(check: AcceptedValues, table: pa.Table, *_: object) -> Outcome:
    column = table.column(check.column)
    bad = pc.unique(column.filter(pc.invert(pc.is_in(column, pa.array(check.values))))).to_pylist()
    bad = [v for v in bad if v is not None]
    return not bad, f"unexpected value(s): {_quote(bad)}" if bad else ""


def relationship(check: Relationship, table: pa.Table, day: dt.date, ctx: Context, _: object) -> Outcome:
    try:
        keys = ctx.dim(check.table).column(check.field)
    except LakeError as exc:
        return False, f"cannot read {check.table}: {exc}"
    column = table.column(check.column)
    orphans = pc.unique(column.filter(pc.invert(pc.is_in(column, keys)))).drop_null().to_pylist()
    return not orphans, f"{len(orphans)} key(s) missing from {check.table}: {_quote(orphans)}" if orphans else ""


def difference(check: Difference, table: pa.Table, *_: object) -> Outcome:
    expected = pc.subtract(table.column(check.left), table.column(check.right))
    wrong = pc.sum(pc.invert(pc.equal(table.column(check.column), expected))).as_py() or 0
    return wrong == 0, f"{wrong} row(s) differ" if wrong else ""


def partition_date(check: PartitionDate, table: pa.Table, day: dt.date, *_: object) -> Outcome:
    column = table.column(check.column)
    wrong = column.null_count + (pc.sum(pc.not_equal(column, pa.scalar(day, pa.date32()))).as_py() or 0)
    return wrong == 0, f"{wrong} row(s) not dated {day}" if wrong else ""


def sums_of(check: SumsOf, table: pa.Table, day: dt.date, ctx: Context, tables: Mapping[str, pa.Table]) -> Outcome:
    expected = _group_sums(tables[check.table], check.by, check.sums, None)
    actual = _group_sums(table, check.by, check.sums, check.count)
    return _same_groups(expected, actual, check.table)


def recomputed(
    check: Recomputed, table: pa.Table, day: dt.date, ctx: Context, tables: Mapping[str, pa.Table]
) -> Outcome:
    expected = _group_sums(check.compute(tables[check.table]), check.by, check.values, None)
    return _same_groups(expected, _group_sums(table, check.by, check.values, None), check.table)


def _same_groups(expected: dict[tuple, list[float]], actual: dict[tuple, list[float]], source: str) -> Outcome:
    missing = expected.keys() ^ actual.keys()
    wrong = [
        k
        for k in expected.keys() & actual.keys()
        if not all(_close(a, e, SUMS_TOLERANCE) for a, e in zip(actual[k], expected[k]))
    ]
    bad = sorted(missing | set(wrong), key=str)
    return not bad, f"{len(bad)} group(s) differ from {source}: {_quote(bad)}" if bad else ""


def _group_sums(
    table: pa.Table, by: tuple[str, ...], sums: tuple[str, ...], count: str | None
) -> dict[tuple, list[float]]:
    """``{group key: [sum, ..., count]}``: sums and row count per group (``count`` column
    given: the table is already aggregated, read its values as they are)."""
    groups: dict[tuple, list[float]] = defaultdict(lambda: [0.0] * (len(sums) + 1))
    columns = [table.column(c).to_pylist() for c in (*by, *sums)]
    counts = table.column(count).to_pylist() if count else [1] * table.num_rows
    for i, n in enumerate(counts):
        acc = groups[tuple(col[i] for col in columns[: len(by)])]
        for j, col in enumerate(columns[len(by) :]):
            acc[j] += col[i]
        acc[-1] += n
    return dict(groups)


EVALUATORS: dict[type, Callable[..., Outcome]] = {
    NotNull: not_null,
    Unique: unique,
    AcceptedValues: accepted_values,
    Relationship: relationship,
    Difference: difference,
    PartitionDate: partition_date,
    SumsOf: sums_of,
    Recomputed: recomputed,
}
