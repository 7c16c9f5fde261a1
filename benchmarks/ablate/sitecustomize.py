"""Put on ``PYTHONPATH`` by :mod:`benchmarks.ablation`: turns off the pieces of the read
path that ``NKDASH_ABLATE`` names, in every process of the server it starts."""

import os

if os.environ.get("NKDASH_ABLATE"):
    from benchmarks.ablation import apply

    apply(os.environ["NKDASH_ABLATE"].split(","))
