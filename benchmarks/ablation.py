"""Part 3c (ablation): what each piece of the dashboards' read path buys in page time.

Each piece is turned off in the server's processes (and only there: ``NKDASH_ABLATE`` names
the pieces, :mod:`benchmarks.ablate.sitecustomize` applies :func:`apply` when Python starts),
and the page figures it could move are measured against nkdash as it is, in the same run:

- the warm-up (``nkdash serve`` start until it answers: each dashboard's default view
  computed from a cold process, what also happens after each nightly load);
- ``n`` viewers opening the dashboards at once: every cell p95, and the servers' CPU per
  viewer;
- filter changes with those viewers connected (a store, the period: new answers, computed
  from the lake): p95 and the CPU per change.

The pieces: ``memtables`` (the in-memory DuckDB copy of the lake: no table held, every
query reads the listed parquet files), ``rollups`` (no pre-summed copies of held tables:
queries sum the held table itself), ``listing`` (no directory cache: every query lists the lake again).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks.report import Figure, median, p95
from benchmarks.servers import DASHBOARDS, Sampler, running
from benchmarks.viewers import Tab, filter_changes, open_tabs

PIECES = ("memtables", "rollups", "listing")
HERE = Path(__file__).resolve().parent


def apply(pieces: Iterable[str]) -> None:
    """Turn the named pieces of the read path off in this process (before any query)."""
    from nkdash.dashboards import engine, memtables
    from nkdash.lake import listing

    pieces = set(pieces)
    if "memtables" in pieces:
        memtables.Memory.hold = lambda self, *args, **kwargs: False  # type: ignore[method-assign]
    if "rollups" in pieces:
        rollups = dict(memtables.ROLLUPS)
        memtables.ROLLUPS.clear()  # no rollup tables made or filled

        def rewrite(sql: str, held: frozenset[str]) -> tuple[str, frozenset[str]]:
            import re

            for name, table in memtables.ROLLUP_OF.items():
                source = memtables.held_name(table) if table in held else table
                sql = re.sub(rf"\b{name}\b", rollups[table].source(source), sql)
            return original(sql, held)

        original = engine._rewrite
        engine._rewrite = rewrite  # type: ignore[assignment]
    if "listing" in pieces:
        listing.Listing.data_files = lambda self, table, start=None, end=None: tuple(  # type: ignore[method-assign]
            self.lake.data_files(table, start, end)
        )


def measure(lake: Path, work: Path, pieces: tuple[str, ...], n: int, changes: int, timeout: float) -> dict[str, Any]:
    """One server with ``pieces`` off: its start, ``n`` viewers at once, ``changes`` filter changes."""
    place = work / ("-".join(pieces) or "all")
    with running("nkdash", lake, place, paths=(HERE / "ablate",), NKDASH_ABLATE=",".join(pieces)) as server:

        async def run() -> dict[str, Any]:
            with Sampler(server.process) as opening:
                tabs = await open_tabs(server, [DASHBOARDS[i % len(DASHBOARDS)] for i in range(n)], timeout)
            tab = await Tab(server, "sales").open(timeout)
            times = []
            with Sampler(server.process) as changing:
                for element, value, _what in filter_changes(tab, changes):
                    times.append(await tab.change(element, value, timeout))
            for t in [*tabs, tab]:
                await t.close()
            opened = [t.cells.last_at for t in tabs]
            errors = sum(t.cells.errors for t in [*tabs, tab])
            return {
                "ready_s": server.ready_s,
                "open_p95": p95(opened),
                "open_cpu": opening.cpu / n,
                "change_p95": p95(times),
                "change_median": median(times),
                "change_cpu": changing.cpu / max(1, changes),
                "errors": errors,
            }

        return asyncio.run(run())


def run(
    lake: Path,
    *,
    n: int = 20,
    changes: int = 10,
    timeout: float = 300.0,
    pieces: tuple[str, ...] = PIECES,
    log: Callable = print,
) -> tuple[list[Figure], list[str]]:
    work = Path(tempfile.mkdtemp(prefix="nkdash-ablation-"))
    got = {(): measure(lake, work, (), n, changes, timeout)}
    log(f"  read path as it is: {_line(got[()])}")
    for piece in pieces:
        got[(piece,)] = measure(lake, work, (piece,), n, changes, timeout)
        log(f"  without {piece}: {_line(got[(piece,)])}")
    base = got[()]
    figures, notes = [], []
    for piece in pieces:
        off = got[(piece,)]
        figures.append(
            Figure(
                "ablation",
                f"without {piece}: filter change p95 / CPU per change; start until it answers; "
                f"{n} viewers every cell p95 / CPU per viewer",
                off["change_p95"],
                "s",
                baseline=base["change_p95"],
                baseline_name="with it",
                ratio_kind="overhead",
                value_text=_text(off),
                baseline_text=_text(base),
                detail={"without": off, "with": base},
            )
        )
        if off["errors"]:
            notes.append(f"ablation: without {piece}, {off['errors']} cell error(s)")
    return figures, notes


def _line(m: dict[str, Any]) -> str:
    return (
        f"ready {m['ready_s']:.1f} s, open p95 {m['open_p95']:.2f} s ({m['open_cpu']:.3f} s CPU/viewer), "
        f"change p95 {m['change_p95']:.2f} s ({m['change_cpu']:.3f} s CPU/change), {m['errors']} errors"
    )


def _text(m: dict[str, Any]) -> str:
    return (
        f"{m['change_p95']:.2f} s / {m['change_cpu']:.2f} s CPU; {m['ready_s']:.1f} s; "
        f"{m['open_p95']:.2f} s / {m['open_cpu']:.2f} s CPU"
    )
