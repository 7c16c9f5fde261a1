"""The suite's shared fixtures, registered here (test modules never import a fixture).

Each fixture name means one thing across the suite. Constants and plain helpers live in
:mod:`tests.support` and are imported from there explicitly. Fixtures only one directory
uses stay in its conftest (``tests/faults``: ``tally``; ``tests/browser``: ``nkdash_serve``,
``chromium``, ``browser_login``).

- The demo Odoo (:mod:`tests.support.demo`): ``demo_server`` (the session's server of each
  version), ``version`` (16-19), ``demo`` (the session's server of ``version``),
  ``fresh_demo`` (a private server of ``version``), ``slow_demo`` (a private Odoo 17 that
  tests slow down).
- Lakes and settings: ``lake_root``, ``settings``, ``loaded_lake`` (every dataset loaded once
  per session and version), ``lake_copy`` (a private copy), ``lake17`` (the root of the loaded
  lake of Odoo 17), ``db`` (the dashboards' engine over it), ``cli`` (the ``nkdash`` command
  in this process).
- The queue (:mod:`tests.support.consumers`): ``qs`` (settings with a queue of their own),
  ``clock`` (the instant consumers see), ``consumers`` (real ``nkdash worker`` processes).
- The web app (:mod:`tests.support.web`): ``notebooks_dir`` (placeholder notebooks),
  ``serve_app`` (``build_app`` served on uvicorn in this process).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nkdash import settings as settings_module
from nkdash.cli.main import main
from nkdash.dashboards import Dashboard
from nkdash.demo import DemoServer, start_demo
from nkdash.jobs import app, backend, worker
from nkdash.settings import Settings
from tests.support.consumers import Clock, make_settings, started, wait_for
from tests.support.demo import DATED, DATES, VERSIONS, demo_config, settings_for
from tests.support.web import placeholder_notebooks, served_apps


# ----------------------------------------------------------------------------- the demo Odoo
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
def slow_demo() -> Iterator[DemoServer]:
    """A private demo Odoo 17 (tests slow it down with latency)."""
    server = start_demo(demo_config(17))
    yield server
    server.stop()


# ----------------------------------------------------------------------------- lakes and settings
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


@pytest.fixture(scope="module")
def lake17(loaded_lake) -> Path:
    """The root of the session's loaded lake of Odoo 17 (read only: copy it to change it)."""
    return loaded_lake(17).lake


@pytest.fixture(scope="module")
def db(lake17) -> Dashboard:
    """The dashboards' engine over :func:`lake17` (one per module: its cache is the module's)."""
    return Dashboard(lake17)


@pytest.fixture
def cli(monkeypatch, capsys) -> Callable[..., tuple[int, str, str]]:
    """``cli(settings, *argv) -> (exit code, stdout, stderr)``: the ``nkdash`` command in this
    process, with those settings in effect."""

    def invoke(settings, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setattr(settings_module, "_cached", settings)
        try:
            code = main(list(argv))
        except SystemExit as exit_:  # argparse's own errors (exit 2), as the console script sees them
            code = exit_.code
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


# ----------------------------------------------------------------------------- the queue
@pytest.fixture
def qs(demo_server, tmp_path) -> Settings:
    """Settings for the session's Odoo 17 demo, a temp lake, queue and logs; tasks.huey bound to them."""
    return make_settings(demo_server(17), tmp_path)


@pytest.fixture
def clock(tmp_path) -> Clock:
    """The instant the consumers see, once the test sets it (``NKDASH_CLOCK_FILE``)."""
    return Clock(tmp_path / "clock")


@pytest.fixture
def consumers(clock) -> Iterator[Callable[..., object]]:
    """``consumers(settings, workers=1, periodic=False)``: a consumer process, killed at teardown.

    It sees the injected clock once the test has set it, and checks the schedule every second.
    """
    procs = []

    def start(settings: Settings, workers: int = 1, periodic: bool = False, worker_type: str = "thread"):
        env = {app.PERIODIC_ENV: "1", **({backend.CLOCK_ENV: str(clock.path)} if clock.path.exists() else {})}
        proc = worker.start_worker_process(
            settings, workers=workers, worker_type=worker_type, periodic=periodic, env=env
        )
        procs.append(proc)
        wait_for(lambda: started(settings, proc.pid) or proc.poll() is not None, 60, "the consumer to start")
        assert proc.poll() is None, worker.log_file(settings).with_name("worker.out").read_text()
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ----------------------------------------------------------------------------- the web app
@pytest.fixture
def notebooks_dir(tmp_path) -> Path:
    """A placeholder viewer notebook (/sales) and operator notebook (/operational)."""
    return placeholder_notebooks(tmp_path / "notebooks")


@pytest.fixture
def serve_app(monkeypatch, notebooks_dir) -> Iterator[Callable[..., str]]:
    """``serve_app(settings, **build_app_kwargs)``: serve ``build_app`` on a free port; the base URL."""
    monkeypatch.setenv("NKDASH_LAKE", "")  # build_app exports it and sets up logging: both restored
    monkeypatch.setattr(logging.getLogger(), "level", logging.getLogger().level)
    with served_apps(notebooks_dir) as start:
        yield start
