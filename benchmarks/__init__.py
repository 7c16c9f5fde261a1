"""nkdash benchmarks: ``python -m benchmarks.run`` (see benchmarks/README.md).

Benchmarks report; they never fail the test suite. Every figure is measured side by side
with its baseline in the same run, because the machine is shared and noisy: the ratios
are what count.
"""
