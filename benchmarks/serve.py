"""Part 3b (pages): what a person waits for, ``nkdash serve`` against plain ``marimo run``.

Every row is measured on both servers in the same run, each freshly started for each
phase (as after a restart), on the same lake with the same viewers:

1. one viewer in headless Chromium opens the sales dashboard: navigation until a KPI card
   shows a number, and until every cell has run;
2. ``n`` viewers (default 20, 5 per dashboard) open the four dashboards at once over
   marimo's WebSocket (:class:`~benchmarks.viewers.Tab`): until each sees its numbers (the
   KPI cards' cell output), until every cell has run; peak RSS. Then, with those ``n``
   still connected, one more viewer of the sales dashboard changes its filters 10 times
   (a store, the period, in turn): until the cells that reran are idle;
3. ``most`` viewers (default 50) at once: until every cell has run, p95; peak RSS.

RSS is the server process and its children, sampled every 0.1 s (psutil).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.report import Figure, median, p95
from benchmarks.servers import DASHBOARDS, Kind, Sampler, Server, rss_mb, running
from benchmarks.viewers import Tab, browser_open, filter_changes, open_tabs

KINDS: tuple[Kind, ...] = ("nkdash", "marimo")
BASELINE = "plain marimo run"


def _spread(n: int) -> list[str]:
    return [DASHBOARDS[i % len(DASHBOARDS)] for i in range(n)]


def one_viewer(server: Server) -> dict[str, Any]:
    return {"idle_mb": rss_mb(server.process), "ready_s": server.ready_s, **browser_open(server, "sales")}


def many_viewers(server: Server, n: int, changes: int, timeout: float) -> dict[str, Any]:
    """``n`` tabs at once; then, with them connected, ``changes`` filter changes by one more."""

    async def measure() -> dict[str, Any]:
        with Sampler(server.process) as sampler:
            tabs = await open_tabs(server, _spread(n), timeout)
        peak, cpu = sampler.peak, sampler.cpu
        draining = [asyncio.create_task(t.drain()) for t in tabs]
        try:
            times: list[dict[str, Any]] = []
            if changes:
                tab = await Tab(server, "sales").open(timeout)
                if tab.failure or not tab.cells.idle:
                    raise RuntimeError(f"the viewer changing filters could not open the page: {tab.failure}")
                for element, value, what in filter_changes(tab, changes):
                    times.append({"what": what, "seconds": await tab.change(element, value, timeout)})
                await tab.close()
        finally:
            for t in tabs:
                await t.close()
            await asyncio.gather(*draining, return_exceptions=True)
        return {"viewers": [t.result() for t in tabs], "peak_mb": peak, "cpu_s": cpu, "changes": times}

    return asyncio.run(measure())


def run(
    root: Path, *, n: int = 20, most: int = 50, changes: int = 10, timeout: float = 300.0, log: Callable = print
) -> tuple[list[Figure], list[str]]:
    work = Path(tempfile.mkdtemp(prefix="nkdash-pages-bench-"))
    got: dict[Kind, dict[str, Any]] = {}
    for kind in KINDS:
        with running(kind, root, work / kind / "one") as server:
            one = one_viewer(server)
        log(
            f"  {kind}: ready in {one['ready_s']:.1f} s, 1 viewer (browser): numbers {_s(one['numbers'])}, "
            f"every cell {_s(one['seconds'])}, {one['cells']} cells (first visit, median of {one['visits']}); "
            + ", ".join(f"{what} {at:.2f} s" for what, at in one.get("timeline", {}).items())
            + f"; returning: numbers {_s(one['returning']['numbers'])}, every cell {_s(one['returning']['seconds'])}"
        )
        with running(kind, root, work / kind / "many") as server:
            many = many_viewers(server, n, changes, timeout)
        log(
            f"  {kind}: {n} viewers: numbers p95 {_s(_p95(many, 'numbers'))}, every cell p95 "
            f"{_s(_p95(many, 'seconds'))}, peak {many['peak_mb']:.0f} MB; filter change p95 "
            f"{_s(p95([c['seconds'] for c in many['changes']]) if many['changes'] else None)}; "
            f"CPU {many['cpu_s'] / n:.2f} s per viewer"
        )
        with running(kind, root, work / kind / "most") as server:
            crowd = many_viewers(server, most, 0, timeout)
        log(f"  {kind}: {most} viewers: every cell p95 {_s(_p95(crowd, 'seconds'))}, peak {crowd['peak_mb']:.0f} MB")
        got[kind] = {"one": one, "many": many, "most": crowd}
    return figures(got, n, most), notes(got, n, most)


def _timeline(one: dict[str, Any]) -> str:
    return "; ".join(f"{what} {at:.2f}" for what, at in one.get("timeline", {}).items())


def _s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _p95(phase: dict[str, Any], key: str) -> float | None:
    values = [v[key] for v in phase["viewers"] if v[key] is not None]
    return p95(values) if values else None


def _median(phase: dict[str, Any], key: str) -> float | None:
    values = [v[key] for v in phase["viewers"] if v[key] is not None]
    return median(values) if values else None


def _timed(name: str, ours: float | None, theirs: float | None, limit: float, **kw: Any) -> Figure:
    return Figure(
        "pages",
        name,
        ours,
        "s",
        baseline=theirs,
        baseline_name=BASELINE,
        target=f"≤ {limit:g} s",
        met=None if ours is None else ours <= limit,
        **kw,
    )


def figures(got: dict[Kind, dict[str, Any]], n: int, most: int) -> list[Figure]:
    ours, theirs = got["nkdash"], got["marimo"]
    per = n // len(DASHBOARDS)
    changes = [c["seconds"] for c in ours["many"]["changes"]]
    base_changes = [c["seconds"] for c in theirs["many"]["changes"]]
    many_all, base_many_all = _p95(ours["many"], "seconds"), _p95(theirs["many"], "seconds")
    speedup = base_many_all / many_all if many_all and base_many_all else None
    return [
        _timed(
            "1 viewer (headless Chromium): navigation until the KPI cards show numbers",
            ours["one"]["numbers"],
            theirs["one"]["numbers"],
            1.5,
            detail=got,
        ),
        _timed(
            "1 viewer (headless Chromium): until every cell has run",
            ours["one"]["seconds"],
            theirs["one"]["seconds"],
            0.8,
            note=f"first visits (an empty browser cache), median of {ours['one']['visits']}",
        ),
        _timed(
            "1 viewer returning (marimo's front end in the browser's cache): until the KPI cards show numbers",
            ours["one"]["returning"]["numbers"],
            theirs["one"]["returning"]["numbers"],
            1.5,
            note=f"a manager who opens the page every day; median of {ours['one']['returning']['visits']} visits",
        ),
        _timed(
            "1 viewer returning: until every cell has run",
            ours["one"]["returning"]["seconds"],
            theirs["one"]["returning"]["seconds"],
            0.8,
        ),
        _timed(
            f"{n} viewers at once ({per} per dashboard): until each sees its numbers, p95",
            _p95(ours["many"], "numbers"),
            _p95(theirs["many"], "numbers"),
            1.5,
        ),
        _timed(
            f"{n} viewers at once: until every cell has run, p50 / p95",
            many_all,
            base_many_all,
            3.0,
            value_text=f"{_s(_median(ours['many'], 'seconds'))} / {_s(many_all)}",
            baseline_text=f"{_s(_median(theirs['many'], 'seconds'))} / {_s(base_many_all)} ({BASELINE})",
        ),
        Figure(
            "pages",
            f"{n} viewers at once: nkdash serve vs {BASELINE} of the same notebooks (every cell, p95)",
            speedup,
            "x",
            value_text="n/a" if speedup is None else f"{speedup:.2f}x faster",
            target="≥ 3x faster",
            met=None if speedup is None else speedup >= 3,
        ),
        _timed(
            f"{most} viewers at once: until every cell has run, p95",
            _p95(ours["most"], "seconds"),
            _p95(theirs["most"], "seconds"),
            8.0,
        ),
        Figure(
            "pages",
            f"{most} viewers at once: peak RSS",
            ours["most"]["peak_mb"],
            "MB",
            baseline=theirs["most"]["peak_mb"],
            baseline_name=BASELINE,
            ratio_kind="overhead",
            target="≤ 1,536 MB",
            met=ours["most"]["peak_mb"] <= 1536,
        ),
        _timed(
            f"a filter change (store, period) with {n} other viewers connected, p95",
            p95(changes) if changes else None,
            p95(base_changes) if base_changes else None,
            0.5,
            note=f"{len(changes)} changes, median {_s(median(changes) if changes else None)}",
        ),
        Figure(
            "pages",
            "  where the 1 viewer's time went (headless Chromium, seconds from navigation)",
            None,
            "s",
            value_text=_timeline(ours["one"]),
            baseline_text=_timeline(theirs["one"]),
        ),
        Figure(
            "pages",
            "  where the returning viewer's time went",
            None,
            "s",
            value_text=_timeline(ours["one"]["returning"]),
            baseline_text=_timeline(theirs["one"]["returning"]),
        ),
        Figure(
            "pages",
            f"server CPU per viewer opening a dashboard ({n} at once)",
            ours["many"]["cpu_s"] / n,
            "s",
            baseline=theirs["many"]["cpu_s"] / n,
            baseline_name=BASELINE,
            ratio_kind="speedup",
            note="CPU seconds of the server's processes: what the machine's other load hardly moves",
        ),
        Figure(
            "pages",
            f"served app, {n} concurrent viewers: peak RSS",
            ours["many"]["peak_mb"],
            "MB",
            baseline=theirs["many"]["peak_mb"],
            baseline_name=BASELINE,
            ratio_kind="overhead",
            target="reported",
        ),
        Figure(
            "pages",
            "  served app idle after start; start until it answers",
            ours["one"]["idle_mb"],
            "MB",
            value_text=f"{ours['one']['idle_mb']:.0f} MB; {ours['one']['ready_s']:.1f} s",
            baseline_text=f"{theirs['one']['idle_mb']:.0f} MB; {theirs['one']['ready_s']:.1f} s ({BASELINE})",
        ),
    ]


def notes(got: dict[Kind, dict[str, Any]], n: int, most: int) -> list[str]:
    out = []
    for kind, phases in got.items():
        name = "nkdash serve" if kind == "nkdash" else BASELINE
        viewers = [phases["one"], *phases["many"]["viewers"], *phases["most"]["viewers"]]
        errors = sum(v["errors"] for v in viewers)
        undone = sum(not v["done"] for v in viewers)
        failures = sorted({v["failure"] for v in viewers if v.get("failure")})
        if errors:
            hit = sum(bool(v["errors"]) for v in viewers)
            out.append(f"pages: {errors} cell error(s) on {hit} of {len(viewers)} viewers of {name}")
        if failures:
            out.append(f"pages: connections of {name} ended early: " + "; ".join(failures[:3]))
        if undone:
            out.append(f"pages: {undone} viewer(s) of {name} not done within the timeout")
    return out
