"""The demo company is a fixed function of its config: digests of whole generated databases.

The expected digests were computed on the generator before it was split into modules
(commit 6f1a8d6); any change to what a config generates changes them. A deliberate
change to the company must update them, and say so in its commit. Updated once since (issue
18): the system parameters ``database.uuid`` and ``database.create_date`` were added; every
other record is unchanged (the old digests hold without ``ir.config_parameter``).
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
    ("tiny", 16, 30): "7e31d9fc68ee06ce733540c684b60420f48645d3172550f44aa7faf3a16e154c",
    ("tiny", 17, 30): "55a3f1c4bf14de97864f674c3822f915c0a7fd570cfb8f15b29b6c2739b79da5",
    ("tiny", 18, 30): "4bb55010078bca234e852433a6ee74e90b33ea26a7d2a9dd16fec512d6a16c1a",
    ("tiny", 19, 30): "b25d80e84e62104acee28adafe09b671f7bb11190ade477fb676e323f0a3bf0f",
    ("small", 16, 14): "8f7529d702f11f947da2cf79292a1a39f4e441f16ea500a8f616ddada58fac66",
    ("small", 19, 14): "abb13e5e747439c34900a314d8d5bde466a9296773177b66cc1f19e6f9db8c5d",
}
LATE_EDITS = {
    16: "94701f408035770f95b99039fd4d793c5d1653a340bc9732a284431c8d6a2e67544d230c9626e988",
    19: "d1ad6ad569490cb9192fff23a9e3cbfff34bddadb13f81d2ad019fe31c2ec71c20f07ed85f61494c",
}
STREAM_18 = "a09b4039c77160f45c42e2b31e102496c1380728f2495c61704abdebf9b1cec6"


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
