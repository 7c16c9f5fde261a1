"""``python -m benchmarks._cold ROOT PARAMS NAME``: one dashboard query in a fresh process.

Imports are timed first (they are reported apart: a served app pays them once).
"""

import sys
import time

_started = time.perf_counter()
import nkdash.dashboards  # noqa: E402,F401

_imported = time.perf_counter() - _started

from benchmarks.queries import cold_main  # noqa: E402

if __name__ == "__main__":
    cold_main(*sys.argv[1:4], import_s=_imported)
