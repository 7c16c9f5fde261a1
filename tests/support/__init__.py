"""Helpers the test modules share, by concern; imported explicitly (``from tests.support.lake
import fact``). Fixtures are not here: they are registered in ``tests/conftest.py`` (and in
``tests/faults/conftest.py``, ``tests/browser/conftest.py`` for their own directory).

- :mod:`~tests.support.demo`: the session's demo company (versions, dates, datasets) and
  settings pointing at a demo Odoo.
- :mod:`~tests.support.shop`: the shop, a tiny hand-made Odoo database with predictable ids.
- :mod:`~tests.support.company`: a generated company's digest and consistency checks.
- :mod:`~tests.support.rpc`: model calls over the version's own protocol.
- :mod:`~tests.support.lake`: small tables, the kill -9 writer harness, checksums and digests.
- :mod:`~tests.support.processes`: the repository root, child environments, a killed run.
- :mod:`~tests.support.consumers`: queue settings, the injected clock, task history, waits.
- :mod:`~tests.support.dashboards`: expected dashboard figures computed with pandas.
- :mod:`~tests.support.notebooks`: marimo notebooks run headless, their cell errors.
- :mod:`~tests.support.web`: the web app served in-process and as ``nkdash serve``.
- :mod:`~tests.support.browser`: headless Chromium and a logged-in page.
"""
