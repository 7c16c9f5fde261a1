"""Root conftest: what every pytest process needs from the start, the xdist controller too
(it collects nothing, so it never loads ``tests/faults/conftest.py``).

- The fault suite's summary table (:mod:`tests.faults.report`): the controller adds up the
  figures the workers' reports carry and prints the table at the end of the run.
- ``xdist_group`` marks under pytest 9: pytest-xdist (3.8) puts a test in its group by
  setting ``item._nodeid = "<nodeid>@<group>"``, but pytest 9 keeps node ids in ``item._id``
  (a ``NodeId``), so the suffix never reached the scheduler and ``--dist loadgroup`` spread a
  group's tests over the workers. The hook below applies the suffix where it did not take.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.faults.report"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        names = sorted(
            {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
        )
        if names and "@" not in item.nodeid:
            group_nodeid(item, f"{item.nodeid}@{'_'.join(names)}")


def group_nodeid(item: pytest.Item, nodeid: str) -> None:
    try:
        from _pytest.nodeid import NodeId  # pytest >= 9: the id is structured
    except ImportError:  # older pytest: xdist's own ``_nodeid`` works
        item._nodeid = nodeid
        return
    item._id = NodeId.parse(nodeid)
