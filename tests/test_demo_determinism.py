"""The demo company is a fixed function of its config: digests of whole generated databases.

The expected digests were computed on the generator before it was split into modules
(commit 6f1a8d6); any change to what a config generates changes them. A deliberate
change to the company must update them, and say so in its commit.
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
    ("tiny", 16, 30): "56d877bd1f1330c071da092c71ad840b2479f9ed64d30fc7cb8248520cd3d264",
    ("tiny", 17, 30): "94912f9d2002c1460aa3bceed6984d3ba3b7062cfa4158218556668b2f61eb29",
    ("tiny", 18, 30): "5896ee2e129e804ecbc65213978d720983ef75af14e87e5bc2325f1245be05ff",
    ("tiny", 19, 30): "50cd16e20f9f77ac7adedcbdb95bb94db4cc2ff9aad3c0a7740baeb9f993632f",
    ("small", 16, 14): "4627fde9b1e317f450e5be8caa45fd26b8ceb634b3ba61929297b512bd54a103",
    ("small", 19, 14): "a2bd766e4706946cb8ca5ef40177bb1d41b70287906d331e4e086a668c1f294f",
}
LATE_EDITS = {
    16: "fa740239e3b7c92696ea1196f40440cda24c90d3c00f93da97755584ca893e30544d230c9626e988",
    19: "db8f050e2756bf1aa0150c861c68e5a01f728c8f605b8083af549d36932dcbac20f07ed85f61494c",
}
STREAM_18 = "0cd10e511252ed09e440d2e1d40694f9c72fdaf813e356a5e97979273b09537c"


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
