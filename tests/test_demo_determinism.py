"""The demo company is a fixed function of its config: digests of whole generated databases.

The expected digests were computed on the generator before it was split into modules
(commit 6f1a8d6); any change to what a config generates changes them. A deliberate
change to the company must update them, and say so in its commit. Deliberate changes since:
issue 18 added the system parameters ``database.uuid`` and ``database.create_date``; issue 16
the company's language and currency position, product templates and vendor lead times
(product.supplierinfo), purchase orders' arrival (effective_date), and expected dates from
the lead time the vendor promises (some vendors deliver a day late).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from nkdash.demo.generate import DemoConfig, apply_late_edits, generate, iter_days
from tests.support.company import digest

END = dt.date(2026, 3, 31)
EXPECTED = {
    ("tiny", 16, 30): "33be543a05e25cf0fe4a37d1a885e2311a9f43bf2d053efc27ecb761112eeebe",
    ("tiny", 17, 30): "fd08889fe67539bb00b9b9ac4904a0c513eacdc6793984f921847d6c306a9528",
    ("tiny", 18, 30): "77bc50a5062fc7212cb485e8088fcdb6ec80f305a1d37c4a3b92e301aa2d8e53",
    ("tiny", 19, 30): "2f70cecd966b360dd995bb2bf05fc79de2bd9a2eafc393a24dd94807fdf3f32c",
    ("small", 16, 14): "b62bf6afc13e997d3847f11b2b0c2a9ee910ad9de207159059151543865017dd",
    ("small", 19, 14): "70d2e4a2d2ae481d4b21dac4d09f88e1b69267830840df3f78d47b751cdfcb0f",
}
LATE_EDITS = {
    16: "87c53b406a5384d9a6901cd41ef113709d183b5fc282a5076a3d86a014b6c61b544d230c9626e988",
    19: "e68d79a5ce1cacbd44ae5ea903efce1db97bbba53587797610e53f9391e17df520f07ed85f61494c",
}
STREAM_18 = "ff01a63224174e364d196ec2fb600705bed5cf9d7fda71b9fb2a02712eee9b4d"


@pytest.mark.parametrize(("scale", "version", "days"), list(EXPECTED), ids=lambda p: str(p))
def test_a_config_generates_the_same_database_as_before(scale, version, days):
    db = generate(DemoConfig(version=version, scale=scale, days=days, end=END))
    assert digest(db) == EXPECTED[scale, version, days]


@pytest.mark.parametrize("version", list(LATE_EDITS))
def test_late_edits_change_the_same_records_as_before(version):
    db = generate(DemoConfig(version=version, scale="tiny", days=30, end=END))
    changed = apply_late_edits(db, dt.datetime(2026, 4, 1, 7, 30), n=3, seed=3)
    changes = hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:16]
    assert digest(db) + changes == LATE_EDITS[version]


def test_the_stream_is_the_same_as_before():
    h = hashlib.sha256()
    for day, batch in iter_days(DemoConfig(version=18, scale="tiny", days=10, end=END)):
        h.update(json.dumps([str(day), batch], sort_keys=True).encode())
    assert h.hexdigest() == STREAM_18
