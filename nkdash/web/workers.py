"""Several server processes for the notebooks, each viewer's session kept on one of them.

A viewer's kernel is a thread of the process that serves its notebook, and Python runs
one thread at a time per process: with 20 viewers opening pages at once, one process
uses one core however many the machine has (and the more threads wait for the
interpreter, the slower each gets). So ``nkdash serve`` runs ``NKDASH_WEB_WORKERS``
worker processes (default 2) that serve the notebooks, each warmed by itself
(:mod:`nkdash.web.warmup`), behind the process that owns the port, our routes and the
:class:`~nkdash.web.gate.Gate`: :class:`Proxy` passes every request the gate lets through
to one worker and its answer back, WebSocket frames included.

Sticky sessions: marimo keeps a session (its kernel) in the process that created it, and
the browser names it in every request: ``session_id`` in the WebSocket's query string,
the ``Marimo-Session-Id`` header of the kernel API. :func:`pick` maps that id to a
worker (the same one every time); a request without one (the page, its assets) goes by
notebook. The workers listen on Unix sockets in a private directory (mode 0700 under
the state directory, or the system's temporary one when that path is too long for a
socket): nothing reaches them but the gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path
from urllib.parse import parse_qs

import httpx
from starlette.types import Message, Receive, Scope, Send

from nkdash.errors import NKDashError
from nkdash.settings import Settings
from nkdash.web.gate import USER_HEADER

log = logging.getLogger(__name__)


START_TIMEOUT = 300.0  # seconds a worker may take to warm up and listen
PARENT_CHECK_S = 1.0  # how often a worker checks that the server that started it still runs


VIRTUAL_FILE = "/@file/"  # marimo's virtual files: made by one kernel, asked for without its session

HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"host", b"te", b"trailer"}


def pick(scope: Scope, workers: int) -> int:
    """The worker for a request: by its marimo session id, else by its first path segment."""
    key = ""
    if scope["type"] == "websocket":
        key = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id") or [""])[0]
    else:
        key = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"marimo-session-id"), "")
    key = key or scope["path"].strip("/").split("/", 1)[0]
    return zlib.crc32(key.encode()) % workers


def _worker(settings: Settings, notebooks_dir: Path, socket_path: str, show_tracebacks: bool, index: int) -> None:
    """A worker process: the notebooks (no gate: only the gate reaches it), warmed, on ``socket_path``."""
    import uvicorn

    from nkdash.web.app import KERNEL_GRACE, join_threads, notebooks_app, setup_logging
    from nkdash.web.warmup import Rewarmer, serving_dashboards, warm

    setup_logging(settings.log_dir, f"worker-{index}.log")
    threading.Thread(target=_end_with_parent, args=(os.getppid(),), name="nkdash-parent-watch", daemon=True).start()
    os.environ["NKDASH_LAKE"] = str(settings.lake.absolute())
    app = notebooks_app(settings, notebooks_dir, show_tracebacks=show_tracebacks)
    dashboards = serving_dashboards(notebooks_dir)
    warm(dashboards)
    rewarmer = Rewarmer(settings.lake.absolute(), dashboards).start() if dashboards else None
    config = uvicorn.Config(
        app,
        uds=socket_path,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        ws_per_message_deflate=False,
    )
    signal.signal(signal.SIGTERM, lambda *_: None)  # uvicorn re-raises it after shutting down: we end below
    try:
        uvicorn.Server(config).run()
    finally:
        if rewarmer is not None:
            rewarmer.stop()
    join_threads(KERNEL_GRACE)
    logging.shutdown()
    os._exit(0)  # the notebooks' native threads (DuckDB, Arrow) can abort an interpreter's finalization


def _end_with_parent(parent: int) -> None:
    """End this worker once the server that started it is gone (killed, or stopped while this
    worker was still warming up): nothing can reach it any more, and it holds memory."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    log.warning("the server (pid %d) is gone: this worker ends", parent)
    logging.shutdown()
    os._exit(0)


class Workers:
    """``count`` worker processes serving the notebooks on Unix sockets."""

    def __init__(self, settings: Settings, notebooks_dir: Path, count: int, *, show_tracebacks: bool = False) -> None:
        self.count = count
        self.directory = _socket_dir(settings.state_dir)
        self.sockets = [str(self.directory / f"worker-{i}.sock") for i in range(count)]
        context = multiprocessing.get_context("spawn")
        self.processes: list[BaseProcess] = [
            context.Process(
                target=_worker,
                args=(settings, notebooks_dir, path, show_tracebacks, i),
                name=f"nkdash-web-worker-{i}",
                daemon=False,
            )
            for i, path in enumerate(self.sockets)
        ]

    def start(self, timeout: float = START_TIMEOUT) -> Workers:
        """Start every worker and wait until each listens (they warm up first)."""
        for process in self.processes:
            process.start()
        deadline = time.monotonic() + timeout
        for process, path in zip(self.processes, self.sockets):
            while not _listening(path):
                if not process.is_alive() or time.monotonic() > deadline:
                    self.stop()
                    raise NKDashError(f"the web worker {process.name} did not start (see the logs in web/)")
                time.sleep(0.05)
        log.info("%d web worker(s) listening: pids %s", self.count, ", ".join(str(p.pid) for p in self.processes))
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every worker (they close their sessions), then wait; SIGKILL the late."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self.processes:
            if process.pid is not None:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    process.kill()
                    process.join()
        shutil.rmtree(self.directory, ignore_errors=True)

    @contextlib.contextmanager
    def running(self) -> Iterator[Workers]:
        self.start()
        try:
            yield self
        finally:
            self.stop()


SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path (Linux: 108 with the final NUL)
SOCKET_DIR_PREFIX = "nkdash-web-"
SOCKET_TAIL = len(f"/{SOCKET_DIR_PREFIX}xxxxxxxx/worker-99.sock")  # what follows the parent directory


def _socket_dir(state_dir: Path) -> Path:
    """A new private directory (mode 0700) for the workers' sockets: under the state directory,
    or under the system's temporary directory when that path would be too long for a socket."""
    state_dir.mkdir(parents=True, exist_ok=True)
    parent = state_dir if len(str(state_dir.absolute())) + SOCKET_TAIL <= SOCKET_PATH_MAX else None
    return Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX, dir=parent))


def _listening(path: str) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
        except OSError:
            return False
    return True


class Proxy:
    """ASGI app: each request to the worker :func:`pick` names, its answer back."""

    def __init__(self, sockets: list[str]) -> None:
        self.sockets = sockets
        self.clients = [
            httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(uds=path), base_url="http://nkdash-worker", timeout=None
            )
            for path in sockets
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        worker = pick(scope, len(self.sockets))
        if scope["type"] == "websocket":
            await self._websocket(worker, scope, receive, send)
        else:
            await self._http(worker, scope, receive, send)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()

    async def _http(self, worker: int, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        # a virtual file (a chart's data) lives in the worker whose kernel made it, and its
        # request names no session: ask the others when the first has none
        tries = (
            [worker, *(i for i in range(len(self.clients)) if i != worker)]
            if VIRTUAL_FILE in scope["path"]
            else [worker]
        )
        for attempt, index in enumerate(tries):
            client = self.clients[index]
            request = client.build_request(
                scope["method"],
                _target(scope),
                headers=[*[(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP and k != USER], _user(scope)],
                content=body,
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.TransportError as exc:
                log.warning("web worker %d did not answer: %s", index, exc)
                await _answer(send, 502, b"the notebook server is not answering")
                return
            if response.status_code != 404 or attempt == len(tries) - 1:
                break
            await response.aclose()
        try:
            headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await response.aclose()

    async def _websocket(self, worker: int, scope: Scope, receive: Receive, send: Send) -> None:
        import websockets

        connect = await receive()
        if connect["type"] != "websocket.connect":
            return
        try:
            upstream = await websockets.unix_connect(
                self.sockets[worker],
                "ws://nkdash-worker" + _target(scope),
                max_size=None,
                ping_interval=None,
                compression=None,
                additional_headers=[
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in [*scope["headers"], _user(scope)]
                    if k in (b"cookie", USER)
                ],
            )
        except (OSError, websockets.WebSocketException) as exc:
            log.warning("web worker %d refused a WebSocket: %s", worker, exc)
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept"})

        async def to_worker() -> None:
            while True:
                message: Message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("text") if message.get("text") is not None else message.get("bytes")
                if data is not None:
                    await upstream.send(data)

        async def to_browser() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for data in upstream:
                    key = "text" if isinstance(data, str) else "bytes"
                    await send({"type": "websocket.send", key: data})
            with contextlib.suppress(Exception):  # the browser may be gone already
                await send({"type": "websocket.close", "code": upstream.close_code or 1000})

        tasks = [asyncio.create_task(to_worker()), asyncio.create_task(to_browser())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await upstream.close()
            await asyncio.gather(*tasks, return_exceptions=True)


USER = USER_HEADER.encode()


def _user(scope: Scope) -> tuple[bytes, bytes]:
    """The user the gate decided (``scope["user"]``) for the worker's :class:`WorkerGuard`;
    whatever a client sent under that name was dropped."""
    return USER, json.dumps(scope.get("user") or {}).encode()


def _target(scope: Scope) -> str:
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    path = bytes(scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?")[0]
    return path + (f"?{query}" if query else "")


async def _answer(send: Send, status: int, text: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": text})


def worker_count(settings: Settings) -> int:
    """How many workers: the setting, at most one per CPU."""
    return max(1, min(settings.web_workers, os.cpu_count() or 1))
