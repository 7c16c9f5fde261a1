"""nkdash.web.workers: the notebooks served by worker processes, each session kept on one."""

from __future__ import annotations

import base64
import html
import json
import re
import time

import psutil
import pytest
import requests
from websockets.sync.client import connect

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
            assert any("1 store(s)" in str(c.get("output")) for c in rerun.values())
        assert (server.log_dir / "web" / "worker-0.log").exists()
