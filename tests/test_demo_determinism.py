"""The demo company is a fixed function of its config: digests of whole generated databases.

The expected digests were computed on the generator before it was split into modules
(commit 6f1a8d6); any change to what a config generates changes them. A deliberate
change to the company must update them, and say so in its commit. Last deliberate change
(issue 16): the company's language and currency position, product templates and vendor
lead times (product.supplierinfo), purchase orders' arrival (effective_date), and expected
dates from the lead time the vendor promises (some vendors deliver a day late).
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
    ("tiny", 16, 30): "a5fd8095c8db3dc7135753acca034a160b5e586db0c272d6d70f6c7f5b81c349",
    ("tiny", 17, 30): "b6d9e3040556b8972eb265cf9156b9262b9bac49287c912a1e0c92c1c0f78c73",
    ("tiny", 18, 30): "ca3c482a3f8e1bdbf27eb92bc0d22f7797557c41080784b2bd4341f5f65c0d17",
    ("tiny", 19, 30): "c91f7a38166a3395520644d237655f70d867b88a8dacd51af18d61880f00b3a3",
    ("small", 16, 14): "9a14bb869ec94c538c2e4a349637720a869964da94e0e51dfd320e32b75921c6",
    ("small", 19, 14): "2996e94c74502361f27a55e320c80a4e7c0a812e8c80bc8178d524d908e8fb29",
}
LATE_EDITS = {
    16: "74dcb1822b8f110db616a6f7ce443fd51915035afe70a2feb4cf521b4b6c618f544d230c9626e988",
    19: "712774ad1a2b3a7eb6d917cb921e4c8ee9c57b1c21967ed77bd89d4b665d45fa20f07ed85f61494c",
}
STREAM_18 = "8c1c3cb770066bf5ac69774bc4e76f0f66258acfe63abab83dc30175f521b3f7"


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
