"""Change detection: which loaded dates Odoo changed since (stale dates).

Every model a dataset reads has a watermark (:class:`~nkdash.meta.Watermark`): the newest
``write_date`` seen, as Odoo reads it (to the second), and the ids already seen in that
second. Odoo stores ``write_date`` with microseconds and compares them in domains, so the
planner asks for ``write_date >= <that second>`` and leaves out the ids it saw there: each
change is seen once, and a night without changes finds nothing.

A changed record marks stale the business date it has now *and* every date the lake holds it
under (its id looked up in the lake, :attr:`~nkdash.etl.datasets.Source.lake_key`), so a
record moved between dates (an invoice reset to draft, re-dated and posted again) leaves its
old date. A deleted record leaves nothing to find by ``write_date``: the nightly
reconciliation (:mod:`nkdash.etl.reconcile`) compares the ids Odoo has with the lake's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from nkdash import dates as cal
from nkdash.etl.datasets import Context, Dataset, Source, get
from nkdash.etl.datasets.base import ALL_RECORDS, advance, unseen, written_since
from nkdash.meta import Watermark

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def tracked(spec: Dataset) -> list[Source]:
    """The sources whose changes date a partition: headers (dated) and their lines."""
    return [s for s in spec.sources if s.date_field or s.parent]


def watermark_key(spec: Dataset, source: Source) -> str:
    return f"stale:{spec.name}:{source.model}"


def start_watermarks(ctx: Context, spec: Dataset) -> None:
    """Before a dataset's first load, note the latest ``write_date`` Odoo has per model, and the
    ids written in that second (checked once per run). Records written after it changed after
    (or while) the load ran. Odoo's clock is used, never ours."""
    for source in tracked(spec):
        key = watermark_key(spec, source)

        def start(key: str = key, source: Source = source) -> Watermark:  # a def: mypy cannot type the lambda
            return ctx.meta.get_mark(key) or start_watermark(ctx, key, source)

        ctx.cached(("watermark", key), start)


def start_watermark(ctx: Context, key: str, source: Source) -> Watermark:
    newest = ctx.client.search_read(
        source.model, [], ["write_date"], order="write_date desc", limit=1, context=ALL_RECORDS
    )
    mark = Watermark(newest[0]["write_date"] if newest else EPOCH)
    if newest:
        mark = advance(mark, changed(ctx, source.model, mark, [])) or mark
    ctx.meta.set_mark(key, mark)
    return mark


def changed(ctx: Context, model: str, mark: Watermark, fields: list[str]) -> list[dict[str, Any]]:
    """Every record of ``model`` written in ``mark``'s second or later (``id``, ``write_date``, ``fields``)."""
    return ctx.client.read_all(model, written_since(mark), [*fields, "write_date"], context=ALL_RECORDS)


def changed_dates(ctx: Context, spec: Dataset, source: Source, mark: Watermark) -> tuple[set[dt.date], Watermark]:
    """Business dates of ``source`` records written since ``mark`` (each change seen once): the
    date each has now and the dates the lake holds it under; and the watermark to resume from."""
    records = changed(ctx, source.model, mark, [link_of(source)])
    fresh = unseen(records, mark)
    dates = current_dates(ctx, spec, source, fresh)
    return dates | lake_dates(ctx, source, [r["id"] for r in fresh]), advance(mark, records) or mark


def link_of(source: Source) -> str:
    """The field that dates a record of ``source``: its date field, or the many2one to its header."""
    return source.date_field or source.parent or ""


def current_dates(ctx: Context, spec: Dataset, source: Source, records: list[dict[str, Any]]) -> set[dt.date]:
    """The business dates ``records`` of ``source`` (read with :func:`link_of`) have in Odoo now."""
    header = next(s for s in spec.sources if s.date_field)
    values = [r[link_of(source)] for r in records]
    if source.parent and any(values):
        parents = ctx.client.read_all(
            header.model,
            [("id", "in", sorted({v for v in values if v}))],
            [header.date_field or ""],
            context=ALL_RECORDS,
        )
        values = [p[header.date_field or ""] for p in parents]  # set: header was picked for it
    return {_as_date(v, ctx.tz) for v in values if v is not None}


def lake_dates(ctx: Context, source: Source, ids: list[int]) -> set[dt.date]:
    """The dates whose partitions hold records ``ids`` of ``source`` (where they sat when loaded)."""
    if not ids or source.lake_key is None:
        return set()
    table, column = source.lake_key
    return ctx.lake.locate(table, column, ids)


def _as_date(value: dt.date | dt.datetime, tz: dt.tzinfo) -> dt.date:
    return cal.business_date(value, tz) if isinstance(value, dt.datetime) else value


def mark_changed(ctx: Context, spec: Dataset) -> list[dt.date]:
    """Mark stale the loaded dates whose records changed in Odoo; advance the watermarks (after
    marking: a run killed in between finds the same changes again). Returns the dates marked."""
    loaded = {p["date"] for p in ctx.meta.partitions(spec.name) if p["status"] == "loaded"}
    marked: set[dt.date] = set()
    for source in tracked(spec):
        key = watermark_key(spec, source)
        mark = ctx.meta.get_mark(key)
        if mark is None:
            continue
        dates, after = changed_dates(ctx, spec, source, mark)
        if spec.stale_onward and dates:
            dates = {d for d in loaded if d >= min(dates)}
        hit = sorted(dates & loaded)
        if hit:
            ctx.meta.mark_stale(spec.name, hit, reason=f"{source.model} changed in Odoo")
            marked.update(hit)
        if after != mark:
            ctx.meta.set_mark(key, after)
    return sorted(marked)


def due_dates(ctx: Context, spec: Dataset, latest: dt.date, start: dt.date | None) -> list[dt.date]:
    """Missing, failed and stale dates of ``spec`` (and of its inputs) up to ``latest``."""
    if not spec.partitioned:
        return [latest]
    mark_changed(ctx, spec)
    states = {p["date"]: p["status"] for p in ctx.meta.partitions(spec.name)}
    known = [*states, *(p["date"] for name in spec.inputs for p in ctx.meta.partitions(name))]
    first = start or min(known, default=latest)
    on_disk = [set(ctx.lake.partitions(t)) for t in spec.table_names]
    due = {
        d for d in cal.days(first, latest) if states.get(d) != "loaded" or any(d not in present for present in on_disk)
    }
    for name in spec.inputs:
        due.update(due_dates(ctx, get(name), latest, first))
    return sorted(d for d in due if first <= d <= latest)
