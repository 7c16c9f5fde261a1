"""nkdash.web.workers: the notebooks served by worker processes, each session kept on one."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from pathlib import Path

import psutil
import pytest
import requests
from websockets.sync.client import connect

from nkdash.web.gate import USER_HEADER
from nkdash.web.workers import pick
from tests.support.web import PASSWORDS, running_nkdash

pytestmark = pytest.mark.slow


def scope(kind: str, path: str, session: str = "") -> dict:
    if kind == "websocket":
        return {"type": kind, "path": path, "query_string": f"session_id={session}".encode(), "headers": []}
    headers = [(b"marimo-session-id", session.encode())] if session else []
    return {"type": kind, "path": path, "query_string": b"", "headers": headers}


@pytest.mark.parametrize("session", [f"s_{i:04x}" for i in range(8)])
def test_a_session_always_goes_to_the_same_worker(session):
    where = pick(scope("websocket", "/sales/ws", session), 2)
    assert pick(scope("http", "/sales/api/kernel/set_ui_element_value", session), 2) == where
    assert pick(scope("http", "/sales/api/kernel/run", session), 2) == where


def test_without_a_session_a_notebook_goes_by_its_path():
    assert pick(scope("http", "/sales/"), 2) == pick(scope("http", "/sales/assets/index.js"), 2)
    assert {pick(scope("http", f"/{nb}/"), 2) for nb in ("sales", "profit", "inventory", "purchases")} == {0, 1}


def cell_ops(ws, until_idle_after: int = 0, quiet: float = 1.5, timeout: float = 120.0) -> dict[str, dict]:
    """Read kernel messages until every cell seen is idle and ``quiet`` s pass; {cell: last output/status}."""
    cells: dict[str, dict] = {}
    changes, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = json.loads(ws.recv(timeout=quiet))
        except TimeoutError:
            if cells and changes >= until_idle_after and all(c.get("status") == "idle" for c in cells.values()):
                return cells
            continue
        data = message.get("data") or {}
        if message.get("op") == "cell-op":
            cell = cells.setdefault(data["cell_id"], {})
            if data.get("status"):
                cell["status"] = data["status"]
                changes += 1
            if (data.get("output") or {}).get("data"):
                cell["output"] = data["output"]
    raise AssertionError(f"cells still running after {timeout}s")


def test_two_workers_serve_the_dashboards_and_keep_each_session(lake17, tmp_path):
    """With NKDASH_WEB_WORKERS=2: two worker processes; a viewer's WebSocket and the filter
    change it posts reach the same kernel (the change reruns its cells)."""
    with running_nkdash(lake17, tmp_path / "serve", NKDASH_WEB_WORKERS="2") as server:
        workers = [p for p in psutil.Process(server.process.pid).children() if "spawn" in " ".join(p.cmdline())]
        assert len(workers) == 2
        auth = "Basic " + base64.b64encode(f"viewer:{PASSWORDS['viewer']}".encode()).decode()
        host = server.url.split("://", 1)[1]
        session = "s_sticky01"
        with connect(
            f"ws://{host}/sales/ws?session_id={session}",
            additional_headers={"Authorization": auth, "Origin": server.url},
            max_size=None,
        ) as ws:
            cells = cell_ops(ws)
            sidebar = next(c["output"]["data"] for c in cells.values() if "marimo-multiselect" in str(c.get("output")))
            stores = re.search(r"object-id='([^']+)'[^>]*><marimo-multiselect[^>]*data-options='([^']*)'", sidebar)
            assert stores, sidebar[:500]
            first = json.loads(html.unescape(stores[2]))[0]
            answer = requests.post(
                f"{server.url}/sales/api/kernel/set_ui_element_value",
                json={"objectIds": [stores[1]], "values": [[first]]},
                headers={"Authorization": auth, "Marimo-Session-Id": session, "Origin": server.url},
                timeout=60,
            )
            assert answer.status_code == 200, answer.text
            rerun = cell_ops(ws, until_idle_after=2)
            headings = [str(c["output"]) for c in rerun.values() if "<h1" in str(c.get("output"))]
            assert headings and first in html.unescape(headings[0]), headings  # the heading names the store
        assert (server.log_dir / "web" / "worker-0.log").exists()


def test_under_workers_the_notebooks_know_who_asks_and_a_client_cannot_say_it(lake17, tmp_path):
    """The role the gate decided reaches a worker's notebooks (a viewer sees no margin when cost
    is hidden from viewers, the operator does); a header a client sends under the gate's name
    for it changes nothing; a kernel call naming no known session gets a clean 404."""
    env = {"NKDASH_WEB_WORKERS": "2", "NKDASH_VIEWER_SEES_COST": "false"}
    with running_nkdash(lake17, tmp_path / "serve", **env) as server:
        host = server.url.split("://", 1)[1]

        def page_text(role: str, session: str, extra: dict[str, str]) -> str:
            auth = "Basic " + base64.b64encode(f"{role}:{PASSWORDS[role]}".encode()).decode()
            with connect(
                f"ws://{host}/sales/ws?session_id={session}",
                additional_headers={"Authorization": auth, "Origin": server.url, **extra},
                max_size=None,
            ) as ws:
                return html.unescape(" ".join(str(c.get("output")) for c in cell_ops(ws).values()))

        forged = {USER_HEADER: json.dumps({"username": "operator", "role": "operator", "is_authenticated": True})}
        assert "Margin" not in page_text("viewer", "s_viewer01", forged)
        assert "Margin" in page_text("operator", "s_operator1", {})
        auth = "Basic " + base64.b64encode(f"viewer:{PASSWORDS['viewer']}".encode()).decode()
        answer = requests.post(
            f"{server.url}/sales/api/kernel/set_ui_element_value",
            json={"objectIds": [], "values": []},
            headers={"Authorization": auth, "Marimo-Session-Id": "s_nosuchone", "Origin": server.url},
            timeout=60,
        )
        assert answer.status_code == 404 and answer.json() == {"error": "no such session"}
        assert "Traceback" not in "".join(p.read_text() for p in (server.log_dir / "web").glob("*.log"))


def test_the_sockets_directory_is_private_and_short_enough(tmp_path):
    """Under the state directory when the sockets' paths fit (a Unix socket's path is at most
    107 bytes), else under the system's temporary directory; mode 0700 either way."""
    from nkdash.web.workers import SOCKET_PATH_MAX, SOCKET_TAIL, _socket_dir

    short = Path("/tmp") / f"nk-{tmp_path.name[-8:]}"
    deep = tmp_path / ("state-" + "x" * 120)
    edge = Path("/tmp") / ("e" * (SOCKET_PATH_MAX - SOCKET_TAIL - len("/tmp/")))  # the longest that fits
    try:
        for state, inside in ((short, True), (edge, True), (edge / "x", False), (deep, False)):
            where = _socket_dir(state)
            assert (where.parent == state) is inside
            assert where.stat().st_mode & 0o777 == 0o700
            assert len(str(where / "worker-99.sock")) <= SOCKET_PATH_MAX
            where.rmdir()
    finally:
        (edge / "x").rmdir()
        edge.rmdir()
        short.rmdir()


def test_workers_end_when_the_server_is_killed(lake17, tmp_path):
    """kill -9 of ``nkdash serve`` (no chance to stop its workers): the workers notice their
    server is gone and end by themselves, instead of holding their memory for good."""
    with running_nkdash(lake17, tmp_path / "serve", NKDASH_WEB_WORKERS="2") as server:
        workers = [p for p in psutil.Process(server.process.pid).children() if "spawn" in " ".join(p.cmdline())]
        assert len(workers) == 2
        server.kill()
        _, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, [p.pid for p in alive]
        log = (server.log_dir / "web" / "worker-0.log").read_text()
        assert f"the server (pid {server.process.pid}) is gone" in log
