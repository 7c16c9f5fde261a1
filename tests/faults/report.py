"""The fault suite's counts: what each area proved, in how many trials and cases.

A test adds its figures with the ``tally`` fixture (``tally(trials=50)``,
``tally(cases=1, injected_errors=12)``); they travel in the test report's
``user_properties``, so they reach the xdist controller too. This plugin adds them up per
area (the test module: ``crashes``, ``odoo_faults``...), prints a table at the end of the
run and writes it as JSON to :data:`OUT` (``benchmarks/out/``, ignored by git).

Registered by ``tests/faults/conftest.py``. Under xdist the controller only sees the
plugin if it is loaded at start-up (``pytest tests/faults ...``, or ``pytest_plugins`` in
``tests/conftest.py``); without it each worker still writes its share and the last one to
finish merges them into :data:`OUT`. ``python -m tests.faults.report`` prints that file.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("NKDASH_FAULTS_REPORT", ROOT / "benchmarks" / "out" / "faults-last-run.json"))
PREFIX = "tests/faults/test_"
KEY = "faults"
AREAS = ("crashes", "odoo_faults", "corruption", "concurrency", "bad_input", "access", "disk")


NAME = "nkdash-faults-report"


def pytest_configure(config: pytest.Config) -> None:
    """Register :class:`Plugin` once: from ``tests/faults/conftest.py``, or earlier when this
    module is listed in ``pytest_plugins`` (so the xdist controller prints the table too)."""
    if not config.pluginmanager.has_plugin(NAME):
        config.pluginmanager.register(Plugin(config), NAME)


class Tally:
    """Figures of one test: ``tally(trials=1, cases=2, retries=5)`` adds them up."""

    def __init__(self) -> None:
        self.figures: dict[str, float] = defaultdict(float)

    def __call__(self, **figures: float) -> None:
        for name, value in figures.items():
            self.figures[name] += value


def area_of(nodeid: str) -> str | None:
    if not nodeid.startswith(PREFIX):
        return None
    return nodeid[len(PREFIX) :].split(".py", 1)[0]


class Collector:
    """Outcomes and figures of the fault tests, per node id."""

    def __init__(self) -> None:
        self.tests: dict[str, dict] = {}
        self.started = time.time()

    def add(self, report: pytest.TestReport) -> None:
        area = area_of(report.nodeid)
        if area is None:
            return
        test = self.tests.setdefault(report.nodeid, {"area": area, "outcome": "passed", "seconds": 0.0, "figures": {}})
        test["seconds"] += report.duration
        if report.failed:
            test["outcome"] = "failed" if report.when == "call" else "error"
        elif report.skipped and test["outcome"] == "passed":
            test["outcome"] = "skipped"
        for name, value in report.user_properties:
            if name == KEY:
                test["figures"] = value

    def summary(self) -> dict:
        return summarize(self.tests, self.started)


def summarize(tests: dict[str, dict], started: float) -> dict:
    areas: dict[str, dict] = {}
    for test in tests.values():
        a = areas.setdefault(
            test["area"],
            {"tests": 0, "passed": 0, "failed": 0, "skipped": 0, "seconds": 0.0, "figures": defaultdict(float)},
        )
        a["tests"] += 1
        a["passed" if test["outcome"] == "passed" else "skipped" if test["outcome"] == "skipped" else "failed"] += 1
        a["seconds"] += test["seconds"]
        for name, value in test["figures"].items():
            a["figures"][name] += value
    ordered = {
        name: {
            **a,
            "figures": {k: _number(v) for k, v in sorted(a["figures"].items())},
            "seconds": round(a["seconds"], 1),
        }
        for name, a in sorted(areas.items(), key=lambda kv: _order(kv[0]))
    }
    total = {k: sum(a[k] for a in ordered.values()) for k in ("tests", "passed", "failed", "skipped")}
    total["trials"] = _number(sum(a["figures"].get("trials", 0) for a in ordered.values()))
    total["cases"] = _number(sum(a["figures"].get("cases", 0) for a in ordered.values()))
    return {
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(time.time() - started, 1),
        "areas": ordered,
        "total": total,
        "tests": tests,
    }


def _order(area: str) -> int:
    return AREAS.index(area) if area in AREAS else len(AREAS)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)


def table(summary: dict) -> list[str]:
    """The summary as text lines."""
    lines = [f"{'area':<12} {'tests':>5} {'pass':>5} {'fail':>5} {'trials':>7} {'cases':>6} {'sec':>6}  figures"]
    for name, a in summary["areas"].items():
        figures = {k: v for k, v in a["figures"].items() if k not in ("trials", "cases")}
        lines.append(
            f"{name:<12} {a['tests']:>5} {a['passed']:>5} {a['failed'] + a['skipped']:>5} "
            f"{a['figures'].get('trials', 0):>7} {a['figures'].get('cases', 0):>6} {a['seconds']:>6.1f}  "
            + ", ".join(f"{k}={v}" for k, v in figures.items())
        )
    t = summary["total"]
    lines.append(
        f"{'total':<12} {t['tests']:>5} {t['passed']:>5} {t['failed'] + t['skipped']:>5} "
        f"{t['trials']:>7} {t['cases']:>6}"
    )
    return lines


def write(summary: dict, path: Path = OUT) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(summary, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


class Plugin:
    """Adds the figures up; prints and writes them at the end (see the module docstring)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.collector = Collector()
        self.worker = getattr(config, "workerinput", None)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.collector.add(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.collector.tests:
            return
        if self.worker is None:
            write(self.collector.summary())
            return
        self._merge_workers()

    def _merge_workers(self) -> None:
        """A worker's share in ``<OUT>.d/<run>/<worker>.json``; all shares so far merged into OUT."""
        shares = OUT.with_name(OUT.name + ".d") / self.worker.get("testrunuid", "run")
        shares.mkdir(parents=True, exist_ok=True)
        (shares / f"{self.worker.get('workerid', os.getpid())}.json").write_text(
            json.dumps({"started": self.collector.started, "tests": self.collector.tests})
        )
        with open(shares.parent / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            tests, started = {}, time.time()
            for share in shares.glob("*.json"):
                data = json.loads(share.read_text())
                tests.update(data["tests"])
                started = min(started, data["started"])
            write(summarize(tests, started))
            for old in shares.parent.iterdir():  # earlier runs' shares
                if old.is_dir() and old != shares and old.stat().st_mtime < time.time() - 3600:
                    for f in old.iterdir():
                        f.unlink()
                    old.rmdir()

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.worker is not None or not self.collector.tests:
            return
        terminalreporter.write_sep("=", "nkdash fault-injection suite")
        for line in table(self.collector.summary()):
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"(written to {OUT})")


if __name__ == "__main__":
    if not OUT.exists():
        sys.exit(f"no fault-suite run recorded yet ({OUT})")
    summary = json.loads(OUT.read_text())
    print(f"last run finished {summary['finished']} ({summary['wall_seconds']} s)")
    print("\n".join(table(summary)))
