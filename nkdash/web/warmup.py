"""Dashboards computed before anyone opens them, and again after the lake changes.

A viewer's kernel runs every cell of its notebook; what makes the first viewers after a
start (or after the nightly load) slow is not marimo but what the cells meet first: the
imports (pandas, altair, DuckDB, the dashboards' modules: about a second), and the
queries of the default view, which nobody has asked for yet (the lake's tables held in
memory, the answers computed). Both are per process and shared by every session: the
modules once imported, the answers in the process-wide result cache of
:func:`~nkdash.dashboards.open_dashboard`, keyed by the lake's state.

So ``nkdash serve`` runs each viewer notebook once itself, before it accepts connections
(marimo's own ``App.run()``, the notebook as a script: the same cells, the same default
view), and again whenever the files of the lake change (:class:`Rewarmer`, checking
every :data:`CHECK_S` seconds): at nine on Monday the answers to the default views of
the night's data are in the cache, and twenty managers opening the sales page each get
a cache hit. Nothing is painted from an old snapshot: a viewer's cells still run, on the
lake as it is.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from nkdash.lake import WHOLE
from nkdash.lake.layout import PARTITIONED
from nkdash.lake.listing import Listing
from nkdash.lake.reader import LakeReader
from nkdash.notebooks import available

log = logging.getLogger(__name__)


CHECK_S = 60.0  # how often the lake is checked for changes (a stat per directory)


def serving_dashboards(notebooks_dir: Path) -> list[Path]:
    """The files of the viewer notebooks (the dashboards) ``nkdash serve`` mounts from ``notebooks_dir``."""
    return [file for nb, file in available(notebooks_dir) if nb.role == "viewer"]


def run_notebook(file: Path) -> float:
    """Run the marimo notebook ``file`` once in this process (its default view); the seconds
    it took. A cell that fails is logged, never raised: warming must not stop a server."""
    started = time.perf_counter()
    try:
        spec = importlib.util.spec_from_file_location(f"nkdash_warmup_{file.stem}", file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {file}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.app.run()
    except Exception:
        log.warning("warming %s failed (its first viewer computes it)", file.name, exc_info=True)
    return time.perf_counter() - started


def warm(files: Sequence[Path]) -> dict[str, float]:
    """Run every notebook of ``files`` once; seconds per notebook."""
    took = {file.stem: run_notebook(file) for file in files}
    log.info("warmed %s", ", ".join(f"{name} in {s:.1f} s" for name, s in took.items()) or "nothing")
    return took


def lake_state(listing: Listing) -> tuple:
    """What changes when any data file of the lake does (listings are cached per directory)."""
    return tuple(listing.data_files(table) for table in (*PARTITIONED, *WHOLE))


class Rewarmer:
    """A daemon thread that runs :func:`warm` again each time the lake's files change."""

    def __init__(
        self, lake: Path, files: Sequence[Path], every: float = CHECK_S, run: Callable[[Sequence[Path]], object] = warm
    ):
        self.listing = Listing(LakeReader(lake))
        self.files, self.every, self.run = list(files), every, run
        self.state = lake_state(self.listing)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="nkdash-rewarm", daemon=True)

    def start(self) -> Rewarmer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> bool:
        """Warm again if the lake changed since the last check; whether it did."""
        state = lake_state(self.listing)
        if state == self.state:
            return False
        self.state = state
        self.run(self.files)
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.check()
            except Exception:
                log.warning("checking the lake for changes failed", exc_info=True)
