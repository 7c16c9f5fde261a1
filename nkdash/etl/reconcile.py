"""The nightly reconciliation: every date of a rolling window checked against Odoo, and healed.

Change detection (:mod:`nkdash.etl.changes`) sees what Odoo changed; it cannot see what Odoo
deleted (a draft invoice, a cancelled purchase order), nor a change that left ``write_date``
alone. So after the daily loads, for the window (``NKDASH_RECONCILE_DAYS`` days up to
yesterday, and every date loaded since the last reconciliation), per dated dataset:

1. **ids**: the ids of the records Odoo counts on the window's dates (orders, invoices, moves:
   :attr:`~nkdash.etl.datasets.Dataset.keys`; ``search`` on their own date field, ids only,
   keyset-paged) against the ids the lake holds per date. A date holding one Odoo no longer
   counts (deleted, cancelled, moved out), one held on two dates, or missing one Odoo counts
   there, differs;
2. **totals**: the lake's count and totals of every date against Odoo's own, as
   :func:`nkdash.etl.validate.validate` compares them. A date that disagrees differs;
3. the dates that differ are marked stale and reloaded (the inputs before profit, whose dates
   a changed input marks stale in turn), then validated in full;
4. the outcome of every dataset and date checked is recorded in the metadata:
   ``reconciled`` (it agreed), ``healed`` (it agreed after its reload) or ``not_reconciled``
   (it still disagrees, or could not be checked or reloaded), which freshness, ``/health`` and
   the operations page show; and a run of ``reconcile`` per date (``nkdash monitor``).

Nothing in the lake is needed to run it: a lake with nothing loaded is not even connected to
Odoo. ``dry_run`` checks and reports, and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from nkdash import dates as cal
from nkdash.errors import InputError, LakeError, OdooError
from nkdash.etl.changes import current_dates, link_of
from nkdash.etl.datasets import DATED, Context, Dataset, get
from nkdash.etl.datasets.base import ALL_RECORDS, Keys, Totals
from nkdash.etl.runner import describe_error, recorded_if_unstarted, refresh, session
from nkdash.etl.validate import compare_totals, validate
from nkdash.lake import Lake
from nkdash.meta import MetaStore, ReconcileStatus, Trigger
from nkdash.odoo import OdooClient
from nkdash.settings import Settings, get_settings

RECONCILE = "reconcile"  # the job's name: in the schedule, its task, and its runs
SHOWN = 5  # ids quoted in a detail

Reload = Callable[[str, list[dt.date]], dict[dt.date, str]]  # (dataset, dates) -> the dates not reloaded, why
Approve = Callable[[str], None]  # shown the plan before anything changes; raises to refuse


@dataclass(frozen=True)
class Finding:
    """What one dataset and date showed: ``reload`` it (it differs), or it could not be checked."""

    dataset: str
    date: dt.date
    detail: str
    reload: bool = True


@dataclass
class ReconcileReport:
    """What a reconciliation checked, found, reloaded, and the outcome per dataset and date."""

    window: list[dt.date] = field(default_factory=list)
    checked: dict[str, list[dt.date]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    reloaded: dict[str, list[dt.date]] = field(default_factory=dict)
    outcomes: dict[tuple[str, dt.date], tuple[ReconcileStatus, str]] = field(default_factory=dict)
    dry_run: bool = False
    calls: int = 0  # Odoo calls made
    seconds: float = 0.0

    @property
    def unreconciled(self) -> list[tuple[str, dt.date, str]]:
        return [(name, day, why) for (name, day), (status, why) in self.outcomes.items() if status == "not_reconciled"]

    @property
    def ok(self) -> bool:
        """Everything agrees with Odoo now (a dry run: agreed already)."""
        return not self.findings if self.dry_run else not self.unreconciled

    def plan(self) -> str:
        """What differs, hence what would be reloaded."""
        if not self.findings:
            return "every date checked agrees with Odoo: nothing to reload"
        lines = ["these dates differ from Odoo and would be reloaded:" if self.dry_run else "these dates differ:"]
        lines += [f"  {f.dataset:<13} {f.date}  {f.detail}" for f in self.findings if f.reload]
        lines += [f"  {f.dataset:<13} {f.date}  NOT CHECKED: {f.detail}" for f in self.findings if not f.reload]
        return "\n".join(lines)

    def summary(self) -> str:
        span = cal.format_spans(self.window)
        count = sum(len(d) for d in self.checked.values())
        healed = sum(status == "healed" for status, _ in self.outcomes.values())
        head = f"reconciliation of {span}: {count} dataset date(s) checked in {self.seconds:.1f} s, {self.calls} Odoo calls"
        if self.dry_run:
            return f"{head}; {len(self.findings)} differ (dry run: nothing changed)"
        return f"{head}; {healed} healed, {len(self.unreconciled)} not reconciled"

    def text(self) -> str:
        lines = [self.summary()]
        if self.dry_run or not self.ok:
            lines += self.plan().splitlines() if self.findings else []
        for name, dates in self.reloaded.items():
            lines.append(f"  reloaded {name}: {cal.format_spans(dates)}")
        lines += [f"  NOT RECONCILED {name} {day}: {why}" for name, day, why in self.unreconciled]
        return "\n".join(lines)


def reconcile(
    today: dt.date | None = None,
    *,
    days: int | None = None,
    dry_run: bool = False,
    settings: Settings | None = None,
    client: OdooClient | None = None,
    lake: Lake | None = None,
    trigger: Trigger = "manual",
    task_id: str | None = None,
    reload: Reload | None = None,
    approve: Approve | None = None,
) -> ReconcileReport:
    """Check the window against Odoo, reload what differs, record the outcome (module docstring).

    ``today``: the business date of the run (the window ends the day before); ``days``: the
    window (default ``NKDASH_RECONCILE_DAYS``); ``reload``: how a dataset's dates are reloaded
    (default :func:`~nkdash.etl.runner.refresh`; the worker's takes the partition locks);
    ``approve``: called with :meth:`ReconcileReport.plan` before anything changes."""
    settings = settings or get_settings()
    days = settings.reconcile_days if days is None else days
    if not 1 <= days <= cal.MAX_SYNC_DAYS:
        raise InputError(f"the reconciliation window is 1 to {cal.MAX_SYNC_DAYS} days, got {days}", days)
    lake = lake or Lake(settings.lake)
    report, started = ReconcileReport(dry_run=dry_run), time.perf_counter()
    if not _anything_loaded(MetaStore.for_lake(lake)):
        return report
    with recorded_if_unstarted(RECONCILE, [], trigger, task_id, settings, lake), session(settings, client, lake) as ctx:
        calls = ctx.client.calls
        latest = (today or cal.today(ctx.tz)) - dt.timedelta(days=1)
        report.window = window(ctx.meta, latest, days)
        check(ctx, report)
        if not dry_run:
            if approve and report.findings:
                approve(report.plan())
            heal(ctx, report, reload or _refresh(ctx, settings, trigger, task_id), settings)
            record(ctx.meta, report, trigger, task_id)
        report.calls, report.seconds = ctx.client.calls - calls, time.perf_counter() - started
    return report


def _anything_loaded(meta: MetaStore) -> bool:
    return any(p["status"] == "loaded" for name in DATED for p in meta.partitions(name))


def window(meta: MetaStore, latest: dt.date, days: int) -> list[dt.date]:
    """``days`` dates up to ``latest``, and every date loaded (or marked) since the last reconciliation."""
    dates = set(cal.days(latest - dt.timedelta(days=days - 1), latest))
    last = next(iter(meta.runs(dataset=RECONCILE, limit=1)), None)
    if last is not None:
        dates |= {
            p["date"]
            for p in meta.partitions()
            if p["date"] is not None and p["date"] <= latest and p["updated_at"] >= last["started_at"]
        }
    return sorted(dates)


# ----------------------------------------------------------------------------- checking
def check(ctx: Context, report: ReconcileReport) -> None:
    """Find the dates that differ from Odoo, dataset by dataset (inputs first); a date already
    stale or failed (a reload that did not happen, or failed) is to be reloaded too."""
    for name in DATED:
        spec = get(name)
        dates = loaded_dates(ctx, spec, report.window)
        pending = pending_dates(ctx, spec, report.window)
        if not dates and not pending:
            continue
        report.checked[name] = sorted({*dates, *(f.date for f in pending)})
        try:
            found = [*check_ids(ctx, spec, dates), *check_totals(ctx, spec, dates)] if dates else []
        except (OdooError, LakeError) as exc:
            found = [Finding(name, day, f"could not be checked: {describe_error(exc)}", reload=False) for day in dates]
        report.findings += merged([*found, *pending])


def pending_dates(ctx: Context, spec: Dataset, dates: Iterable[dt.date]) -> list[Finding]:
    """The dates of ``dates`` whose partitions of ``spec`` are stale or failed (why, as recorded)."""
    window = set(dates)
    return [
        Finding(spec.name, p["date"], f"{p['status']}: {p['error'] or p['stale_reason'] or 'no reason recorded'}")
        for p in ctx.meta.partitions(spec.name)
        if p["status"] in ("stale", "failed") and p["date"] in window
    ]


def loaded_dates(ctx: Context, spec: Dataset, dates: Iterable[dt.date]) -> list[dt.date]:
    """The dates of ``dates`` whose partitions of ``spec`` are loaded and on disk."""
    loaded = {p["date"] for p in ctx.meta.partitions(spec.name) if p["status"] == "loaded"}
    on_disk = set(ctx.lake.partitions(spec.tables[0].name))
    return [d for d in dates if d in loaded and d in on_disk]


def merged(found: list[Finding]) -> list[Finding]:
    """One finding per dataset and date (details joined); one not checked wins."""
    by_date: dict[tuple[str, dt.date], list[Finding]] = defaultdict(list)
    for f in found:
        by_date[f.dataset, f.date].append(f)
    return [
        Finding(name, day, "; ".join(f.detail for f in group), reload=all(f.reload for f in group))
        for (name, day), group in sorted(by_date.items())
    ]


def check_ids(ctx: Context, spec: Dataset, dates: list[dt.date]) -> list[Finding]:
    """Dates whose source records in the lake are not those Odoo counts for them: a header
    (order, invoice, move) Odoo no longer counts in the window (deleted, cancelled, moved out),
    one held under two dates, one Odoo counts there with lines that the lake lacks. A line
    deleted from a header that stays shows in the line count (:func:`check_totals`)."""
    keys = spec.keys
    if keys is None:
        return []
    model = keys.header.model
    held = [ctx.lake.read_partition(spec.tables[0].name, d, [keys.column]).column(0).unique() for d in dates]
    ids = pa.chunked_array(held, pa.int64()).combine_chunks()
    days = pa.array([d for d, column in zip(dates, held) for _ in range(len(column))], pa.date32())
    odoo = odoo_ids(ctx, keys, dates)
    found = []
    gone = pc.invert(pc.is_in(ids, value_set=odoo))
    for day, count in _count_by_day(days.filter(gone)).items():
        some = ids.filter(pc.and_(gone, pc.equal(days, pa.scalar(day, pa.date32())))).to_pylist()
        found.append(Finding(spec.name, day, f"{count} {model} record(s) Odoo does not count here ({_quote(some)})"))
    counts = pc.value_counts(ids)
    twice = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    for day, count in _count_by_day(days.filter(pc.is_in(ids, value_set=twice))).items():
        found.append(Finding(spec.name, day, f"{count} {model} record(s) also held under another date"))
    missing = odoo.filter(pc.invert(pc.is_in(odoo, value_set=ids))).to_pylist()
    if missing and keys.lines is not None:  # a header without lines has no row: not missing
        lines = ctx.client.read_all(
            keys.lines.model,
            [*keys.lines.where(ctx.profile), (keys.lines.parent, "in", missing)],
            [keys.lines.parent or ""],
        )
        missing = sorted({line[keys.lines.parent or ""] for line in lines})
    if missing:
        headers = ctx.client.read_all(model, [("id", "in", missing)], [link_of(keys.header)], context=ALL_RECORDS)
        for day in sorted(current_dates(ctx, spec, keys.header, headers) & set(dates)):
            found.append(Finding(spec.name, day, f"Odoo counts {model} record(s) here that the lake lacks"))
    return found


def odoo_ids(ctx: Context, keys: Keys, dates: list[dt.date]) -> pa.Array:
    """The header ids Odoo counts on ``dates`` (one keyset-paged ``search`` per run of dates)."""
    pages = [
        page
        for first, last in cal.spans(dates)
        for page in ctx.client.ids(keys.header.model, keys.domain(ctx, first, last))
    ]
    return pa.array([i for page in pages for i in page], pa.int64())


def check_totals(ctx: Context, spec: Dataset, dates: list[dt.date]) -> list[Finding]:
    """Dates whose count and totals in the lake are not Odoo's own."""
    if spec.source_totals is None or spec.lake_totals is None:
        return []
    if spec.window_totals is not None:
        odoo = spec.window_totals(ctx, dates)
    else:
        odoo = {d: spec.source_totals(ctx, d) for d in dates}
    found = []
    for day in dates:
        lake = spec.lake_totals({spec.tables[0].name: ctx.lake.read_partition(spec.tables[0].name, day)})
        wrong = [r for r in compare_totals(spec, lake, odoo[day]) if not r.ok]
        if wrong:
            found.append(Finding(spec.name, day, "; ".join(f"{r.check}: {r.detail}" for r in wrong)))
    return found


def _count_by_day(days: pa.Array) -> dict[dt.date, int]:
    counts = pc.value_counts(days)
    return dict(sorted(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist())))


def _quote(ids: list[int]) -> str:
    more = f" +{len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
    return ", ".join(map(str, ids[:SHOWN])) + more


# ----------------------------------------------------------------------------- healing
def heal(ctx: Context, report: ReconcileReport, reload: Reload, settings: Settings) -> None:
    """Mark the dates that differ stale, reload every stale date of the window (inputs first:
    profit's dates their reload changed are stale by then), validate them again."""
    todo: dict[str, set[dt.date]] = defaultdict(set)
    for f in report.findings:
        if f.reload:
            ctx.meta.mark_stale(f.dataset, [f.date], reason=f"reconciliation: {f.detail}"[:500])
            todo[f.dataset].add(f.date)
    errors: dict[tuple[str, dt.date], str] = {}
    in_window = set(report.window)
    for dataset in DATED:  # profit last: the reloads of its inputs that changed them marked its dates stale
        stale = {p["date"] for p in ctx.meta.partitions(dataset) if p["status"] == "stale" and p["date"] in in_window}
        dates = sorted(todo[dataset] | stale)
        if dates:
            report.reloaded[dataset] = dates
            errors.update({(dataset, day): why for day, why in reload(dataset, dates).items()})
    for f in report.findings:
        if not f.reload:
            report.outcomes[f.dataset, f.date] = ("not_reconciled", f.detail)
    by_date: dict[dt.date, list[str]] = defaultdict(list)
    for name, dates in report.reloaded.items():
        for day in dates:
            by_date[day].append(name)
    for day, names in sorted(by_date.items()):
        _revalidate(ctx, report, day, names, errors, settings)
    for name, dates in report.checked.items():
        for day in dates:
            report.outcomes.setdefault((name, day), ("reconciled", ""))


def _revalidate(
    ctx: Context,
    report: ReconcileReport,
    day: dt.date,
    names: list[str],
    errors: dict[tuple[str, dt.date], str],
    settings: Settings,
) -> None:
    reloaded = [name for name in names if (name, day) not in errors]
    for name in names:
        if (name, day) in errors:
            report.outcomes[name, day] = ("not_reconciled", f"not reloaded: {errors[name, day]}")
    if not reloaded:
        return
    try:
        validation = validate(day, reloaded, settings=settings, client=ctx.client, lake=ctx.lake)
    except (OdooError, LakeError) as exc:
        for name in reloaded:
            report.outcomes[name, day] = ("not_reconciled", f"not validated after its reload: {describe_error(exc)}")
        return
    for result in validation.datasets:
        why = "; ".join(f"{r.table} {r.check}: {r.detail}" for r in result.failures)
        report.outcomes[result.dataset, day] = ("healed", "") if result.ok else ("not_reconciled", why or "no checks")


def _refresh(ctx: Context, settings: Settings, trigger: Trigger, task_id: str | None) -> Reload:
    def reload(dataset: str, dates: list[dt.date]) -> dict[dt.date, str]:
        run = refresh(
            dataset,
            dates,
            trigger=trigger,
            settings=settings,
            client=ctx.client,
            lake=ctx.lake,
            progress=False,
            task_id=task_id,
        )
        return {u.date: u.error or "failed" for u in run.failed if u.dataset == dataset and u.date is not None}

    return reload


def record(meta: MetaStore, report: ReconcileReport, trigger: Trigger, task_id: str | None) -> None:
    """The outcome per dataset and date, and a run of ``reconcile`` per date (failed: one differs still)."""
    by_date: dict[dt.date, list[tuple[str, ReconcileStatus, str]]] = defaultdict(list)
    for (name, day), (status, why) in sorted(report.outcomes.items(), key=lambda item: (item[0][1], item[0][0])):
        by_date[day].append((name, status, why))
    for day, outcomes in sorted(by_date.items()):
        run_id = meta.start_run(RECONCILE, day, trigger, task_id=task_id)
        for name, status, why in outcomes:
            meta.record_reconciliation(name, day, status, why, run_id)
        bad = [f"{name}: {why}" for name, status, why in outcomes if status == "not_reconciled"]
        healed: Totals = {"checked": len(outcomes), "healed": sum(s == "healed" for _, s, _ in outcomes)}
        meta.finish_run(
            run_id, status="failed" if bad else "success", rows=0, source_totals=healed, error="; ".join(bad) or None
        )
