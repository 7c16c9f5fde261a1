"""A wheel built from the repository, installed in a fresh virtual environment (no checkout on
the path), serves every page with ``nkdash serve``: the notebooks ship inside the package."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from nkdash.notebooks import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The ``bin`` directory of a fresh venv where only the built wheel (and its dependencies,
    pinned by constraints.txt) is installed."""
    work = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(ROOT)],
        check=True,
        cwd=work,
    )
    [wheel] = (work / "dist").glob("nkdash-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    pip = [str(work / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", str(ROOT / "constraints.txt"), str(wheel)], check=True, cwd=work)
    return work / "venv" / "bin"


def test_the_wheel_holds_the_notebooks_and_the_runbook(installed):
    code = (
        "import nkdash.notebooks as n, nkdash.ops.runbook as r, sys; "
        "print(n.NOTEBOOKS_DIR); print(len(r.RUNBOOK)); print(sorted(p.name for p in n.NOTEBOOKS_DIR.glob('*.py')))"
    )
    out = subprocess.run(
        [str(installed / "python"), "-c", code], capture_output=True, text=True, check=True, cwd=installed.parent
    ).stdout.splitlines()
    assert "site-packages" in out[0] and str(ROOT) not in out[0]
    assert int(out[1]) > 50
    assert all(nb.file in out[2] for nb in NOTEBOOKS)


def test_nkdash_serve_from_the_wheel_serves_every_page(installed, tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NKDASH_", "ODOO_", "PYTHON"))}
    env |= {
        "NKDASH_LAKE": str(tmp_path / "lake"),
        "NKDASH_STATE_DIR": str(tmp_path / "state"),
        "NKDASH_LOG_DIR": str(tmp_path / "logs"),
        "NKDASH_OPERATOR_PASSWORD": "op-pass",
        "NKDASH_VIEWER_PASSWORD": "view-pass",
        "NKDASH_TZ": "Europe/Brussels",
    }
    proc = subprocess.Popen(
        [str(installed / "nkdash"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/health", timeout=5).status_code in (200, 503):
                    break
            except (requests.ConnectionError, requests.Timeout):  # the port is held while the pages warm up
                assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        else:
            pytest.fail("nkdash serve did not answer /health within 90 s")
        for nb in NOTEBOOKS:
            page = requests.get(f"{base}{nb.path}/", auth=("operator", "op-pass"), timeout=30)
            assert page.status_code == 200, (nb.path, page.status_code)
            assert "<marimo-filename" in page.text and nb.file in page.text, nb.path
        assert requests.get(f"{base}/sales/", timeout=30, allow_redirects=False).status_code in (302, 303, 401)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
