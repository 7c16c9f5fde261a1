"""nkdash's web app served for tests: in this process (``build_app`` on uvicorn, the
``serve_app`` fixture) or as a real ``nkdash serve`` subprocess (:func:`running_nkdash`).

For a server shared by a module::

    @pytest.fixture(scope="module")
    def dashboards_server(loaded_lake, tmp_path_factory):
        with running_nkdash(loaded_lake(17).lake, tmp_path_factory.mktemp("serve")) as server:
            yield server
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import uvicorn

from nkdash.settings import Settings
from nkdash.web.app import build_app
from tests.support.processes import REPO

NOTEBOOK = """import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    mo.md("placeholder notebook")
    return


if __name__ == "__main__":
    app.run()
"""


def placeholder_notebooks(directory: Path) -> Path:
    """A placeholder viewer notebook (/sales) and operator notebook (/operational) in ``directory``."""
    directory.mkdir()
    for name in ("sales.py", "operational.py"):
        (directory / name).write_text(NOTEBOOK)
    return directory


@contextlib.contextmanager
def served_apps(notebooks_dir: Path) -> Iterator[Callable[..., str]]:
    """Yields ``start(settings, **build_app_kwargs)``, which serves ``build_app`` on a free port
    and returns the base URL; on exit every server stops and nkdash's log handlers go."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def run(settings: Settings, **kwargs) -> str:
        kwargs.setdefault("health_ttl", 0)
        app = build_app(settings, notebooks_dir, **kwargs)
        sock = socket.create_server(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        servers.append((server, thread))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        for _ in range(100):
            if server.started:
                return url
            time.sleep(0.05)
        raise RuntimeError("server did not start")

    yield run
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)
    for logger in (logging.getLogger(), logging.getLogger("marimo"), logging.getLogger("nkdash.web.access")):
        for handler in [h for h in logger.handlers if (h.get_name() or "").startswith("nkdash-")]:
            logger.removeHandler(handler)
            handler.close()


# ----------------------------------------------------------------------------- nkdash serve


PASSWORDS = {"viewer": "viewer-pw-for-tests", "operator": "operator-pw-for-tests"}
START_TIMEOUT = 60.0


@dataclass
class NkdashServer:
    """A running ``nkdash serve``: ``url`` (no trailing slash), its log dir and passwords."""

    url: str
    process: subprocess.Popen
    log_dir: Path
    passwords: dict[str, str]
    output: list[str] = field(default_factory=list)  # stdout and stderr lines, for failure reports
    killed: bool = False  # kill() was used: no clean exit expected

    def kill(self) -> None:
        """SIGKILL (a crash: the server gets no chance to stop anything) and wait."""
        self.killed = True
        self.process.kill()
        self.process.wait()

    def web_log(self) -> list[str]:
        path = self.log_dir / "web" / "web.log"
        return path.read_text().splitlines() if path.exists() else []

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; returns the exit code (kills and fails if it does not stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"nkdash serve ignored SIGTERM for {timeout}s")
        return self.process.returncode


@contextlib.contextmanager
def running_nkdash(
    lake: Path,
    workdir: Path,
    *,
    notebooks_dir: Path | None = None,
    passwords: dict[str, str] = PASSWORDS,
    show_tracebacks: bool = True,
    **env: str,
) -> Iterator[NkdashServer]:
    """Run ``nkdash serve --port 0`` on 127.0.0.1 against ``lake``; stop it (SIGTERM) on exit.

    ``workdir`` holds its state and logs (``workdir/logs/web/``) and is its working
    directory, so no ``.env`` of the repository is read. ``notebooks_dir`` defaults to the
    project's notebooks; ``env`` adds settings (e.g. ``NKDASH_TZ``). Yields once ``/health``
    answers (200 or 503). Exiting asserts a clean shutdown (exit code 0).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(workdir),
        "PYTHONPATH": str(REPO),
        "NKDASH_LAKE": str(lake),
        "NKDASH_STATE_DIR": str(workdir / "state"),
        "NKDASH_LOG_DIR": str(workdir / "logs"),
        "NKDASH_VIEWER_PASSWORD": passwords.get("viewer", ""),
        "NKDASH_OPERATOR_PASSWORD": passwords.get("operator", ""),
        **env,
    }
    command = [
        sys.executable,
        "-m",
        "nkdash",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        *(["--notebooks", str(notebooks_dir)] if notebooks_dir else []),
        *(["--show-tracebacks"] if show_tracebacks else []),
    ]
    process = subprocess.Popen(
        command, cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    server = NkdashServer("", process, workdir / "logs", dict(passwords))
    announced = threading.Event()

    def read_output() -> None:
        for line in process.stdout:
            server.output.append(line.rstrip("\n"))
            if not announced.is_set() and "serving on http://" in line:
                server.url = line.split("serving on ")[1].split()[0].rstrip("/")
                announced.set()

    threading.Thread(target=read_output, daemon=True).start()
    try:
        _wait_until_up(server, announced)
        yield server
    finally:
        code = server.stop()
    assert code == 0 or server.killed, f"nkdash serve exited with {code}:\n" + "\n".join(
        server.output[-30:] + server.web_log()[-30:]
    )


def _wait_until_up(server: NkdashServer, announced: threading.Event) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail("nkdash serve exited:\n" + "\n".join(server.output))
        if announced.is_set():
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{server.url}/health", timeout=30).status_code in (200, 503):
                    return
        time.sleep(0.1)
    pytest.fail(f"nkdash serve did not answer /health within {START_TIMEOUT}s:\n" + "\n".join(server.output))
