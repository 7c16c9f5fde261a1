"""Change detection: which loaded dates Odoo changed since (stale dates).

Stale means the records changed in Odoo after the date was loaded: every model a dataset
reads has a watermark (the latest ``write_date`` seen), records written after it are mapped
to their business dates, and those dates are marked stale, so that the lake converges on
what Odoo says.

Edits that move a record to another date mark the new date stale, not the old one; a full
reload of the range (``refresh`` over it) repairs that rare case.
"""

from __future__ import annotations

import datetime as dt

from nkdash import dates as cal
from nkdash.etl.datasets import Context, Dataset, Source, get
from nkdash.etl.datasets.base import ALL_RECORDS
from nkdash.odoo import format_datetime

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def tracked(spec: Dataset) -> list[Source]:
    """The sources whose changes date a partition: headers (dated) and their lines."""
    return [s for s in spec.sources if s.date_field or s.parent]


def watermark_key(spec: Dataset, source: Source) -> str:
    return f"stale:{spec.name}:{source.model}"


def start_watermarks(ctx: Context, spec: Dataset) -> None:
    """Before a dataset's first load, note the latest ``write_date`` Odoo has per model
    (checked once per run). Records written after it changed after (or while) the load
    ran. Odoo's clock is used, never ours."""
    for source in tracked(spec):
        key = watermark_key(spec, source)

        def start(key: str = key, source: Source = source) -> dt.datetime:  # a def: mypy cannot type the lambda
            return ctx.meta.get_watermark(key) or start_watermark(ctx, key, source)

        ctx.cached(("watermark", key), start)


def start_watermark(ctx: Context, key: str, source: Source) -> dt.datetime:
    newest = ctx.client.search_read(
        source.model, [], ["write_date"], order="write_date desc", limit=1, context=ALL_RECORDS
    )
    stamp = newest[0]["write_date"] if newest else EPOCH
    ctx.meta.set_watermark(key, stamp)
    return stamp


def changed_dates(ctx: Context, spec: Dataset, source: Source, since: dt.datetime) -> tuple[set[dt.date], dt.datetime]:
    """Business dates of ``source`` records written after ``since``, and the newest stamp."""
    header = next(s for s in spec.sources if s.date_field)
    link = source.date_field or source.parent or ""
    changed = ctx.client.read_all(
        source.model, [("write_date", ">", format_datetime(since))], [link, "write_date"], context=ALL_RECORDS
    )
    newest = max((r["write_date"] for r in changed), default=since)
    values = [r[link] for r in changed]
    if source.parent:
        parents = ctx.client.read_all(
            header.model,
            [("id", "in", sorted({v for v in values if v}))],
            [header.date_field or ""],
            context=ALL_RECORDS,
        )
        values = [p[header.date_field or ""] for p in parents]  # set: header was picked for it
    return {_as_date(v, ctx.tz) for v in values if v is not None}, newest


def _as_date(value: dt.date | dt.datetime, tz: dt.tzinfo) -> dt.date:
    return cal.business_date(value, tz) if isinstance(value, dt.datetime) else value


def mark_changed(ctx: Context, spec: Dataset) -> None:
    """Mark stale the loaded dates whose records changed in Odoo; advance the watermarks."""
    loaded = {p["date"] for p in ctx.meta.partitions(spec.name) if p["status"] == "loaded"}
    for source in tracked(spec):
        key = watermark_key(spec, source)
        since = ctx.meta.get_watermark(key)
        if since is None:
            continue
        dates, newest = changed_dates(ctx, spec, source, since)
        if spec.stale_onward and dates:
            dates = {d for d in loaded if d >= min(dates)}
        hit = sorted(dates & loaded)
        if hit:
            ctx.meta.mark_stale(spec.name, hit, reason=f"{source.model} changed in Odoo")
        if newest > since:
            ctx.meta.set_watermark(key, newest)


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
