"""What the tasks run: daily catch-ups, queued partitions, the reconciliation, compaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from huey.exceptions import RetryTask

from nkdash import dates as cal
from nkdash.etl.datasets import get
from nkdash.etl.runner import input_ready
from nkdash.lake import Lake
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from huey.api import Task

    from nkdash.etl import RunReport
    from nkdash.etl.reconcile import ReconcileReport
    from nkdash.meta import MetaStore
    from nkdash.meta.store import Trigger
    from nkdash.odoo import OdooClient
    from nkdash.storage import CompactionReport
from nkdash.jobs.backend import TaskFailed, huey_for, log
from nkdash.jobs.locks import lock_name, owner, try_lock, unlock

INPUT_WAIT = 300  # seconds before profit looks at its inputs again


INPUT_ATTEMPTS = 12  # then it loads the missing inputs itself


@dataclass
class Outcome:
    """What one task (or sync refresh) did with its dates."""

    dataset: str
    loaded: list[dt.date] = field(default_factory=list)
    failed: list[dt.date] = field(default_factory=list)
    duplicates: dict[dt.date, str] = field(default_factory=dict)  # date -> task that holds it
    waiting: list[dt.date] = field(default_factory=list)
    report: RunReport | None = None

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_params(self) -> dict:
        return {
            "loaded": _iso(self.loaded),
            "failed": _iso(self.failed),
            "waiting": _iso(self.waiting),
            "duplicates": {d.isoformat(): t for d, t in self.duplicates.items()},
        }

    def summary(self) -> str:
        """The run's report (if anything ran), then one line per date left to another task or waiting."""
        lines = [self.report.summary()] if self.report else []
        lines += [f"  {d} already being loaded by task {t}: not loaded again" for d, t in self.duplicates.items()]
        lines += [f"  {d} waits: an input is being loaded right now" for d in self.waiting]
        return "\n".join(lines)

    def text(self) -> str:
        parts = [f"{self.dataset}: loaded {cal.format_spans(self.loaded)}"]
        parts += [f"failed {cal.format_spans(self.failed)}"] if self.failed else []
        parts += [f"{d} already being loaded by task {t}" for d, t in self.duplicates.items()]
        parts += [f"waiting for inputs {cal.format_spans(self.waiting)}"] if self.waiting else []
        return "; ".join(parts)


def _iso(dates: Iterable[dt.date]) -> list[str]:
    return [d.isoformat() for d in sorted(dates)]


def load(
    dataset: str,
    dates: Sequence[dt.date],
    *,
    task_id: str,
    trigger: Trigger,
    settings: Settings | None = None,
    wait_for_inputs: bool = False,
    client: OdooClient | None = None,
    full: bool = False,
    progress: bool = False,
) -> Outcome:
    """Refresh ``dates`` of ``dataset`` under their partition locks.

    A date whose lock is held is a duplicate (a ``skipped`` run is recorded). A date whose
    inputs are not loaded waits when ``wait_for_inputs``, else its inputs are loaded too,
    under their locks; a date whose input is being loaded right now waits. An input that is
    only stale (loaded, then changed in Odoo: often found by this very job's plan) is never
    waited for: no other job would reload it before the next night, so it is loaded here.
    ``client``, ``full`` and ``progress`` go to :func:`nkdash.etl.refresh`.
    """
    from nkdash.etl import refresh

    settings = settings or get_settings()
    huey, spec, outcome = huey_for(settings), get(dataset), Outcome(dataset)
    holder, held, todo = owner(task_id), [], []
    lake = Lake(settings.lake)
    try:
        for day in sorted(set(dates)):
            meta = huey.history.meta
            missing = [name for name in spec.inputs if not input_ready(meta, lake, name, day)]
            if wait_for_inputs and any(not _stale(meta, name, day) for name in missing):
                outcome.waiting.append(day)
                continue
            names = [lock_name(dataset, day), *(lock_name(name, day) for name in missing)]
            busy = try_lock(huey, names, holder)
            if busy is None:
                held += names
                todo.append(day)
            elif busy[0] == names[0]:
                outcome.duplicates[day] = busy[1].get("task_id", "?")
                _record_duplicate(huey.history.meta, dataset, day, trigger, task_id, outcome.duplicates[day])
            else:
                outcome.waiting.append(day)
        if todo:
            outcome.report = refresh(
                dataset,
                todo,
                trigger=trigger,
                settings=settings,
                progress=progress,
                task_id=task_id,
                client=client,
                full=full,
            )
            outcome.failed = outcome.report.failed_dates
            outcome.loaded = [d for d in todo if d not in outcome.failed]
    finally:
        unlock(huey, held, task_id)
    return outcome


def _stale(meta: MetaStore, dataset: str, day: dt.date) -> bool:
    state = meta.partition(dataset, day)
    return state is not None and state["status"] == "stale"


def _record_duplicate(meta: MetaStore, dataset: str, day: dt.date, trigger: Trigger, task_id: str, other: str) -> None:
    run_id = meta.start_run(dataset, day if get(dataset).partitioned else None, trigger, task_id=task_id)
    meta.finish_run(run_id, status="skipped", error=f"duplicate: already being loaded by task {other}")


def run_daily(dataset: str, day: str, task: Task, settings: Settings | None = None) -> Outcome:
    """The daily job: load every date the ETL plans for ``dataset`` on local date ``day``."""
    from nkdash.etl import plan

    settings = settings or get_settings()
    dates = [dt.date.fromisoformat(d) for d in task.kwargs.get("dates") or ()]
    if not dates:
        heal_derived(dataset, task.id, settings)
        dates = plan(dataset, today=dt.date.fromisoformat(day), settings=settings)
    return _run(dataset, dates, task, "schedule", settings)


def run_reconcile(day: str, task: Task, settings: Settings | None = None) -> ReconcileReport:
    """The nightly reconciliation as of local date ``day`` (:func:`nkdash.etl.reconcile.reconcile`),
    reloading under the partition locks; a date left not reconciled fails the task."""
    from nkdash.etl.reconcile import reconcile

    settings = settings or get_settings()
    report = reconcile(
        dt.date.fromisoformat(day),
        settings=settings,
        trigger="schedule",
        task_id=task.id,
        reload=lambda dataset, dates: locked_reload(dataset, dates, task.id, settings),
    )
    huey_for(settings).history.update(task.id, params={"summary": report.summary()})
    if not report.ok:
        raise TaskFailed(report.text())
    return report


def locked_reload(dataset: str, dates: list[dt.date], task_id: str, settings: Settings) -> dict[dt.date, str]:
    """Reload ``dates`` of ``dataset`` under their locks (:func:`load`); the dates not reloaded, and why."""
    outcome = load(dataset, dates, task_id=task_id, trigger="schedule", settings=settings)
    failed = outcome.report.failed if outcome.report else []
    why = {u.date: u.error or "failed" for u in failed if u.dataset == dataset and u.date is not None}
    why.update({d: f"being loaded by task {t}" for d, t in outcome.duplicates.items()})
    why.update(dict.fromkeys(outcome.waiting, "its inputs are being loaded"))
    return why


def run_compaction(day: str, task: Task, settings: Settings | None = None) -> CompactionReport:
    """The nightly compaction as of local date ``day`` (:func:`nkdash.storage.compact_old_months`);
    what it did goes to the task history. A month it had to skip fails the task."""
    from nkdash.storage import compact_old_months

    settings = settings or get_settings()
    report = compact_old_months(settings, today=dt.date.fromisoformat(day), task_id=task.id)
    huey_for(settings).history.update(task.id, params={"summary": report.text().splitlines()[0]})
    if report.skipped:
        raise TaskFailed(report.text())
    return report


def heal_derived(dataset: str, task_id: str, settings: Settings) -> None:
    """Before planning: rebuild ``dataset``'s derived tables that the lake alone can give
    (an upgrade's new aggregates, a write killed between tables), so they are not reloaded
    from Odoo (:mod:`nkdash.derived`)."""
    from nkdash.etl.derived import backfill, derivations

    if derivations([dataset]):
        report = backfill(settings.lake, datasets=[dataset], trigger="schedule", task_id=task_id)
        if report.gaps:
            log.info("%s", report.text())


def run_partition(dataset: str, day: str, task: Task, settings: Settings | None = None) -> Outcome:
    """One date of an async refresh."""
    return _run(dataset, [dt.date.fromisoformat(day)], task, "async", settings or get_settings(), wait=False)


def _run(
    dataset: str, dates: list[dt.date], task: Task, trigger: Trigger, settings: Settings, wait: bool = True
) -> Outcome:
    attempt = int(task.kwargs.get("attempt", 0))
    wait = wait and bool(get(dataset).inputs) and attempt < INPUT_ATTEMPTS
    outcome = load(dataset, dates, task_id=task.id, trigger=trigger, settings=settings, wait_for_inputs=wait)
    history = huey_for(settings).history
    history.update(task.id, params={"outcome": outcome.as_params(), "summary": outcome.text(), "attempt": attempt})
    if outcome.waiting and attempt < INPUT_ATTEMPTS:
        task.kwargs.update(dates=_iso(outcome.waiting), attempt=attempt + 1)
        raise RetryTask(f"waiting for inputs of {cal.format_spans(outcome.waiting)}", delay=INPUT_WAIT)
    if not outcome.ok:
        alert_failures(settings)
        raise TaskFailed(outcome.report.summary() if outcome.report else outcome.text())
    return outcome


def alert_failures(settings: Settings) -> None:
    """A load failed: check the failed-load incidents now (an alert goes out at once), not
    at the next periodic check. A failure to alert never hides the task's own failure."""
    from nkdash import alerts

    try:
        alerts.check(settings, kinds=("failed",))
    except Exception:  # noqa: BLE001 — logged; the task fails with its own error below
        log.exception("checking the alerts after a failed load failed")


def run_alert_check(settings: Settings | None = None) -> None:
    """The periodic alert check (every few minutes, see :mod:`nkdash.alerts`)."""
    from nkdash import alerts

    report = alerts.check(settings or get_settings())
    if report.sent:
        log.info("%s", report.text())
