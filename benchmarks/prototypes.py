"""Part 5: the fixes proposed for missed targets, prototyped here and measured.

Nothing here changes nkdash: each prototype is patched in for one measurement and
compared, in the same run, with nkdash as it is.

- **ETL**: the ETL prototypes measured here before (``fromisoformat`` datetimes,
  ``pyarrow.compute.max`` for the newest ``write_date``, pages prefetched in a background
  thread) are nkdash itself now, with columnar normalising and shaping. What is measured
  here is what the two overlaps are worth: the ETL with its pages fetched one after the
  other (no prefetch thread), and with the Odoo totals also asked after the extraction.

The dashboard prototypes measured here before are now nkdash itself (see part 1):
coarser aggregates ``agg_sales_daily`` and ``agg_orders_daily`` written by the profit
ETL; labels joined after grouping by ids; the small aggregates and the dimensions held
as native DuckDB tables (``nkdash.memtables``), with ``fact_sales``' order key held as
an integer; date bounds from the metadata store and listings cached per directory mtime
(``nkdash.listing``).
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.report import Figure, median


# ----------------------------------------------------------------------------- 4. ETL
def sequential_raw_pages(
    self,
    model: str,
    domain: list,
    fields: Sequence[str],
    *,
    after_id: int = 0,
    batch_size: int | None = None,
    context: dict | None = None,
):
    """``OdooClient.raw_pages`` without its prefetch thread: page n+1 is requested once
    page n has been consumed."""
    from nkdash.odoo.client import DEFAULT_CONTEXT

    size = batch_size or self.batch_size
    fields = list(dict.fromkeys(["id", *fields]))
    ctx = {**DEFAULT_CONTEXT, **(context or {})}
    cursor = after_id
    while True:
        rows = self.execute(
            model,
            "search_read",
            [("id", ">", cursor), *domain],
            fields=fields,
            offset=0,
            context=ctx,
            order="id asc",
            limit=size,
        )
        if not rows:
            return
        cursor = rows[-1]["id"]
        yield rows, cursor
        if len(rows) < size:
            return


def sequential_load(self, ctx: Any, day: dt.date | None) -> tuple[dict, dict]:
    """``Dataset.load`` without the overlap: Odoo's totals are asked after the extraction."""
    return self.extract(ctx, day), (self.source_totals(ctx, day) if self.source_totals else {})


def etl(quick: bool, work: Path, log: Callable[[str], None]) -> list[Figure]:
    from benchmarks import etl as etl_bench

    client_module = importlib.import_module("nkdash.odoo.client")
    base_module = importlib.import_module("nkdash.etl.datasets.base")
    spec = etl_bench.DemoSpec(scale="small", days=3) if quick else etl_bench.DemoSpec(days=3)
    no_prefetch = [(client_module.OdooClient, "raw_pages", sequential_raw_pages)]
    patches = {
        "now": [],
        "no prefetch": no_prefetch,
        "sequential": [*no_prefetch, (base_module.Dataset, "load", sequential_load)],
    }
    walls: dict[str, list[float]] = {"fetch": [], **{k: [] for k in patches}}
    with etl_bench.demo_odoo(spec, log) as url:
        template = etl_bench.dims_lake(spec, url, work / "proto-dims")
        calls = etl_bench.etl_once(spec, url, template, work)[3].calls
        for _ in range(1 if quick else 2):
            walls["fetch"].append(etl_bench.fetch_once(spec, url, calls)[0])
            for variant, patch in patches.items():
                with _patched(patch):
                    walls[variant].append(etl_bench.etl_once(spec, url, template, work)[0])
    now, fetch, no_pre, seq = (median(walls[k]) for k in ("now", "fetch", "no prefetch", "sequential"))
    log(
        f"  ETL ({spec.scale}, 1 day): as is {now:.2f} s, without prefetching {no_pre:.2f} s, without either "
        f"overlap {seq:.2f} s, fetch {fetch:.2f} s"
    )
    return [
        Figure(
            "prototypes",
            f"ETL 1 day ({spec.scale} demo), pages fetched one after the other (no prefetch)",
            no_pre,
            "s",
            baseline=fetch,
            baseline_name="plain paging loop",
            ratio_kind="overhead",
            note=f"as is in the same run: {now:.2f} s = {now / fetch:.2f}x",
            detail=walls,
        ),
        Figure(
            "prototypes",
            f"ETL 1 day ({spec.scale} demo), no prefetch and Odoo totals after the extraction",
            seq,
            "s",
            baseline=fetch,
            baseline_name="plain paging loop",
            ratio_kind="overhead",
            note=f"as is: {now:.2f} s = {now / fetch:.2f}x; the demo Odoo shares the 2 cores with the ETL",
        ),
    ]


class _patched:
    def __init__(self, patches):
        self.patches, self.saved = patches, []

    def __enter__(self):
        for owner, name, value in self.patches:
            self.saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, value)

    def __exit__(self, *exc):
        for owner, name, value in reversed(self.saved):
            setattr(owner, name, value)


# ----------------------------------------------------------------------------- all
def run(
    root: Path, *, quick: bool, work: Path, current: dict[str, float] | None = None, log: Callable[[str], None] = print
) -> tuple[list[Figure], list[str]]:
    """The prototypes' figures (``root`` and ``current``: unused since the dashboard
    prototypes became nkdash; kept so that ``benchmarks.run`` calls every part alike)."""
    return etl(quick, work, log), []
