"""The fault-injection suite (issue 8): what nkdash promises under faults, load and bad input.

Every test here is marked ``faults`` (and the long ones ``slow``); all run in CI. Each
records what it proved with ``tally`` (trials, cases and other figures), summed per area
by :mod:`tests.faults.report` into a table at the end of the run and
``benchmarks/out/faults-last-run.json``. The suite's helpers live in :mod:`tests.support`
(:mod:`tests.support.lake`: checksums, digests and copies of lakes;
:mod:`tests.support.processes`: child processes).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults import report


def pytest_configure(config: pytest.Config) -> None:
    report.pytest_configure(config)


@pytest.fixture
def tally(request) -> Iterator[report.Tally]:
    """``tally(trials=50)``, ``tally(cases=1, retries=7)``: figures this test proved."""
    counts = report.Tally()
    yield counts
    request.node.user_properties.append((report.KEY, dict(counts.figures)))
