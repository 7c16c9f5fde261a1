"""The README's screenshots of the dashboards, made from the demo company.

    python -m benchmarks.screenshots                  # demo Odoo -> lake -> nkdash serve -> docs/*.png
    python -m benchmarks.screenshots --lake LAKE      # an existing lake (no demo, no loading)

It starts the embedded demo Odoo (Odoo 17, small scale, seed 42, ``--days`` of history ending
yesterday, so the pages show data that is on time; ``--end`` fixes the last day), loads every
dataset into a temporary lake, serves the notebooks with ``nkdash serve``, logs in as the operator in
headless Chromium (``/usr/bin/chromium``) and writes one PNG per dashboard: the top of the
page at 1440x900 (``docs/<page>.png``), and with ``--phone`` at 390x844 as well
(``docs/<page>-phone.png``). PNGs are written by Chromium (zlib-compressed); at 1440x900
each is about 150-300 kB.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs"
PAGES = ("sales", "profit", "inventory", "purchases")
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "screenshots-only"  # a throwaway server on 127.0.0.1, stopped at the end
VIEWPORTS = {"": (1440, 900), "-phone": (390, 844)}


def load_demo(lake: Path, days: int, end: dt.date, log: bool = True) -> None:
    """The demo company's ``days`` days up to ``end``, every dataset, into ``lake``."""
    from nkdash import dates as cal
    from nkdash.demo import start_demo
    from nkdash.demo.generate import DemoConfig
    from nkdash.etl import refresh
    from nkdash.etl.datasets import DATASET_NAMES
    from nkdash.settings import Secret, Settings

    config = DemoConfig(version=17, scale="small", days=days, end=end, tz="Europe/Brussels")
    server = start_demo(config)
    try:
        settings = Settings(
            odoo_url=server.url, odoo_db=config.db_name, odoo_user=config.login, odoo_password=Secret(config.password)
        ).with_(lake=lake, tz=config.tz)
        dates = cal.days(end - dt.timedelta(days=days - 1), end)
        for name in (n for n in DATASET_NAMES if n != "dimensions"):
            started = time.monotonic()
            report = refresh(name, dates, settings=settings, progress=False)
            if log:
                print(f"  {name}: {len(dates)} dates in {time.monotonic() - started:.0f} s", flush=True)
            if not report.ok:
                raise SystemExit(report.summary())
    finally:
        server.stop()


@contextlib.contextmanager
def serving(lake: Path, workdir: Path) -> Iterator[str]:
    """``nkdash serve`` on a free port of 127.0.0.1 over ``lake``; its URL."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(workdir),
        "PYTHONPATH": str(REPO),
        "NKDASH_LAKE": str(lake),
        "NKDASH_TZ": "Europe/Brussels",
        "NKDASH_STATE_DIR": str(workdir / "state"),
        "NKDASH_LOG_DIR": str(workdir / "logs"),
        "NKDASH_OPERATOR_PASSWORD": PASSWORD,
        "NKDASH_VIEWER_PASSWORD": PASSWORD,
    }
    command = [sys.executable, "-m", "nkdash", "serve", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = ""
        assert process.stdout is not None
        for line in process.stdout:
            if "serving on http://" in line:
                url = line.split("serving on ")[1].split()[0].rstrip("/")
                break
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{url}/health", timeout=30).status_code in (200, 503):
                    break
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def shoot(
    url: str, out: Path, pages: tuple[str, ...], phone: bool, role: str = "operator", full: bool = False
) -> list[Path]:
    """Log in as ``role`` and save each page (1440x900; 390x844 too with ``phone``; ``full``:
    the whole page, the viewport as tall as the page)."""
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for suffix, (width, height) in VIEWPORTS.items():
            if suffix and not phone:
                continue
            context = browser.new_context(viewport={"width": width, "height": height}, locale="en-GB")
            page = context.new_page()
            page.goto(f"{url}/login")
            page.fill("input[name=username]", role)
            page.fill("input[name=password]", PASSWORD)
            with page.expect_navigation():
                page.click("button[type=submit]")
            for name in pages:
                page.goto(f"{url}/{name}/")
                page.wait_for_selector('#App[data-connection-state="OPEN"]', timeout=120_000)
                _wait_idle(page)
                path = out / f"{name}{suffix}.png"
                if full:  # marimo scrolls its own container: make the viewport as tall as the page
                    tall = page.evaluate("Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))")
                    page.set_viewport_size({"width": width, "height": min(int(tall) + 40, 12000)})
                    _wait_idle(page)
                page.screenshot(path=str(path))
                page.set_viewport_size({"width": width, "height": height})
                written.append(path)
            context.close()
        browser.close()
    return written


def _wait_idle(page: object, quiet: float = 1.5, timeout: float = 120.0) -> None:
    deadline, idle_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        busy = page.locator('[data-testid="loading-indicator"]').count() > 0  # type: ignore[attr-defined]
        idle_since = None if busy else (idle_since or time.monotonic())
        if idle_since and time.monotonic() - idle_since >= quiet:
            return
        page.wait_for_timeout(200)  # type: ignore[attr-defined]


def yesterday() -> dt.date:
    from nkdash import dates as cal

    return cal.today(cal.timezone("Europe/Brussels")) - dt.timedelta(days=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, help="an existing lake (default: load the demo company into a temp lake)")
    parser.add_argument("--days", type=int, default=60, help="days of the demo company to load (default 60)")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="the demo's last day, YYYY-MM-DD (default yesterday)")
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go (default docs/)")
    parser.add_argument("--phone", action="store_true", help="also 390x844 screenshots (<page>-phone.png)")
    parser.add_argument("--full", action="store_true", help="the whole page, not only its top")
    parser.add_argument("--role", default="operator", choices=("operator", "viewer"))
    parser.add_argument("--pages", nargs="*", default=list(PAGES))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nkdash-screenshots-") as tmp:
        lake = args.lake
        if lake is None:
            lake = Path(tmp) / "lake"
            print(f"loading {args.days} days of the demo company into {lake}", flush=True)
            load_demo(lake, args.days, args.end or yesterday())
        with serving(lake.absolute(), Path(tmp)) as url:
            for path in shoot(url, args.out, tuple(args.pages), args.phone, args.role, args.full):
                print(
                    f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path} "
                    f"({path.stat().st_size // 1024} kB)"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
