"""Shared fixtures: demo Odoo servers (one per version, tiny deterministic company with a
fixed end date), temp lakes, and Settings pointing at them."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nkdash import dates as cal
from nkdash.demo import DemoServer, start_demo
from nkdash.demo.generate import DemoConfig
from nkdash.settings import Secret, Settings

VERSIONS = (16, 17, 18, 19)
TZ = "Europe/Brussels"
END = dt.date(2024, 4, 2)  # a Tuesday: its POS sessions are still open (costs not computed)
DATES = cal.days(dt.date(2024, 3, 29), END)  # Fri..Tue: a weekend, and the spring DST change on Sun 31 March
DATED = ("pos", "invoices", "purchases", "inventory", "stock-quants", "profit")


def demo_config(version: int) -> DemoConfig:
    return DemoConfig(version=version, seed=42, scale="tiny", days=len(DATES), end=END, tz=TZ)


def settings_for(server: DemoServer, lake: Path, **changes) -> Settings:
    """Settings for ``server`` (password, or the API key for Odoo 19's JSON-2) and ``lake``."""
    config = demo_config(server.db.version)
    secret = config.api_key if server.db.version >= 19 else config.password
    return Settings(
        odoo_url=server.url,
        odoo_db=config.db_name,
        odoo_user=config.login,
        odoo_password=Secret(secret),
        odoo_retries=1,
        odoo_backoff=0.01,
        lake=lake,
    ).with_(**changes)


@pytest.fixture(scope="session")
def demo_server() -> Iterator[Callable[[int], DemoServer]]:
    """``demo_server(version)``: the session's demo Odoo of that version (do not mutate it)."""
    servers: dict[int, DemoServer] = {}

    def get(version: int = 17) -> DemoServer:
        if version not in servers:
            servers[version] = start_demo(demo_config(version))
        return servers[version]

    yield get
    for server in servers.values():
        server.stop()


@pytest.fixture(params=VERSIONS, ids=lambda v: f"odoo{v}")
def version(request) -> int:
    return request.param


@pytest.fixture
def demo(demo_server, version) -> DemoServer:
    return demo_server(version)


@pytest.fixture
def fresh_demo(version) -> Iterator[DemoServer]:
    """A private demo Odoo a test may change (late edits)."""
    server = start_demo(demo_config(version))
    yield server
    server.stop()


@pytest.fixture
def lake_root(tmp_path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def settings(demo, lake_root) -> Settings:
    return settings_for(demo, lake_root)


@pytest.fixture(scope="session")
def loaded_lake(demo_server, tmp_path_factory) -> Callable[[int], Settings]:
    """``loaded_lake(version)``: settings of a lake holding every dataset for :data:`DATES`,
    loaded once per session from the shared demo Odoo. Copy it before changing it."""
    from nkdash.etl import refresh

    lakes: dict[int, Settings] = {}

    def get(version: int) -> Settings:
        if version not in lakes:
            settings = settings_for(demo_server(version), tmp_path_factory.mktemp(f"lake{version}"))
            for name in DATED:
                report = refresh(name, DATES, settings=settings, progress=False)
                assert report.ok, report.summary()
            lakes[version] = settings
        return lakes[version]

    return get


@pytest.fixture
def lake_copy(loaded_lake, version, tmp_path) -> Settings:
    """A private copy of the loaded lake of ``version`` (tests may tamper with it)."""
    source = loaded_lake(version)
    shutil.copytree(source.lake, tmp_path / "lake-copy")
    return source.with_(lake=tmp_path / "lake-copy")


RUN_STARTER = textwrap.dedent("""
    # Starts a run in the metadata store of the lake argv[1], says so, then waits to be killed.
    import sys, time, datetime as dt
    from nkdash.lake import Lake
    from nkdash.meta import MetaStore

    print(MetaStore.for_lake(Lake(sys.argv[1])).start_run("pos", dt.date(2024, 3, 30), "async"), flush=True)
    time.sleep(600)
""")


@contextlib.contextmanager
def run_of_a_killed_process(lake: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    """A child process starts a run (pos, 2024-03-30) in ``lake``'s metadata store: yields
    (run id, process) while it lives, then kills it (``kill -9``): the run stays "running"."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN_STARTER, str(lake)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        yield int(proc.stdout.readline()), proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
