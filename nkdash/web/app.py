"""The web app of ``nkdash serve``: every notebook at its own path behind a login, an index page, ``/health``.

One Starlette app: our routes (``/``, ``/login``, ``/logout``, ``/health``) first, then
marimo's multi-notebook ASGI app (run mode; each session's kernel is a thread of this
process) mounted at ``/``, all behind :class:`~nkdash.web.gate.Gate`, the one place that decides access.

Before it accepts connections, :func:`serve` runs each dashboard once (imports, the default
views' answers in the shared cache) and runs them again whenever the lake's files change
(:mod:`nkdash.web.warmup`); a closed tab's kernel is freed after :data:`SESSION_TTL` seconds.

Logs (rotating) in ``<log_dir>/web/``: ``access.log``, one line per request (time, client,
user, role, method, path, status, duration; never a query string, cookie or credential),
and ``web.log``, the application log.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import logging.handlers
import math
import os
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from nkdash import alerts
from nkdash.alerts import CHECK_MINUTES
from nkdash.errors import ConfigError, InputError, NKDashError
from nkdash.notebooks import NOTEBOOKS_DIR, Notebook, available
from nkdash.ops.health import Health, QueueProbe, check_health, queue_status
from nkdash.settings import Settings
from nkdash.web import endpoints, shims, throttle
from nkdash.web.auth import LOCAL_USER, SESSION_COOKIE, SESSION_SECONDS, Auth, revocations, session_key
from nkdash.web.frontend import FrontEndFiles
from nkdash.web.gate import Gate, WorkerGuard, access_log
from nkdash.web.pages import index_page, login_page, safe_next
from nkdash.web.throttle import LoginThrottle
from nkdash.web.warmup import Rewarmer, serving_dashboards, warm
from nkdash.web.workers import Proxy, Workers, worker_count

log = logging.getLogger(__name__)


HEALTH_TTL = 15.0  # /health is public: a scan at most this often


KERNEL_GRACE = 10.0  # seconds the notebooks' kernels get to stop after the server


SESSION_TTL = 30  # seconds a closed tab's kernel waits for its page to reconnect (marimo: 120)


LOG_BYTES, LOG_BACKUPS = 10 * 1024 * 1024, 5


MAX_PORT = 65535


ALERT_EVERY = CHECK_MINUTES * 60.0  # seconds between the server's alert checks (a dead worker cannot report itself)


async def _check_alerts(settings: Settings, every: float) -> None:
    """Every ``every`` seconds (the first after one interval), check the incidents and send
    what is due (:func:`nkdash.alerts.check`, in a worker thread). A failure is logged, never
    raised: the server keeps serving."""
    while True:
        await asyncio.sleep(every)
        try:
            report = await run_in_threadpool(alerts.check, settings)
        except Exception:
            log.exception("the alert check failed")
        else:
            if report.sent:
                log.info("alerts: %s", report.text())


class _HealthCache:
    """The last health check, recomputed (in a worker thread) when older than ``ttl``."""

    def __init__(self, compute: Callable[[], Health], ttl: float):
        self.compute, self.ttl = compute, ttl
        self.value: Health | None = None
        self.at = 0.0
        self.lock = asyncio.Lock()

    async def get(self) -> Health:
        async with self.lock:
            if self.value is None or time.monotonic() - self.at >= self.ttl:
                self.value = await run_in_threadpool(self.compute)
                self.at = time.monotonic()
            return self.value


def build_app(
    settings: Settings,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    *,
    show_tracebacks: bool = False,
    no_auth: bool = False,
    queue_probe: QueueProbe = queue_status,
    health_ttl: float = HEALTH_TTL,
    alert_every: float | None = ALERT_EVERY,
    login_throttle: LoginThrottle | None = None,
    proxy: Proxy | None = None,
) -> ASGIApp:
    """The web app: our routes, then every available notebook at its path, behind :class:`Gate`.

    The notebooks are served in this process, or by the worker processes behind ``proxy``
    (:mod:`nkdash.web.workers`; the gate still checks every request against marimo's route
    table, built here). Sets up the logs in ``<log_dir>/web/`` and exports ``NKDASH_LAKE`` for
    the notebooks. Raises :class:`ConfigError` if no password is set and ``no_auth`` is not
    given. ``login_throttle`` (default: the policies of :mod:`nkdash.web.throttle`) becomes the
    process's, which ``/health`` and the monitoring page report.
    """
    if not (no_auth or settings.viewer_password or settings.operator_password):
        raise ConfigError(
            "NKDASH_VIEWER_PASSWORD/NKDASH_OPERATOR_PASSWORD",
            "no web password is set; set one in .env (or pass --no-auth for local use only)",
        )
    auth = None if no_auth else Auth(settings, session_key(settings.state_dir), revocations(settings.state_dir))
    logins = throttle.install(login_throttle or LoginThrottle())
    setup_logging(settings.log_dir)
    os.environ["NKDASH_LAKE"] = str(settings.lake.absolute())
    mounted = available(notebooks_dir)
    notebooks = [nb for nb, _ in mounted]
    health = _HealthCache(lambda: check_health(settings, queue_probe), health_ttl)

    async def index(request: Request) -> Response:
        return index_page(request.scope["nkdash.user"], notebooks, await health.get())

    async def health_endpoint(request: Request) -> Response:
        report = await health.get()
        body = {**report.to_dict(), "logins": logins.report()}  # counts only: no user name, no address
        return JSONResponse(body, 200 if report.ok else 503, headers={"Cache-Control": "no-store"})

    async def login_form(request: Request) -> Response:
        return login_page(safe_next(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        form = await request.form()
        target, name, address = safe_next(str(form.get("next", ""))), str(form.get("username", "")), _client(request)
        wait = logins.wait(name, address) if auth else 0.0
        if wait:
            log.warning("login refused from %s: too many failed logins", address)
            seconds = math.ceil(wait)
            message = f"Too many failed logins: try again in {seconds} s."
            return login_page(target, message, 429, {"Retry-After": str(seconds)})
        user = auth.check(name, str(form.get("password", ""))) if auth else LOCAL_USER
        if user is None:
            logins.failed(name, address)
            log.warning("failed login from %s", address)
            return login_page(target, "Wrong user name or password.", 401)
        logins.succeeded()
        response = RedirectResponse(target, 303)
        if auth is not None:
            response.set_cookie(
                SESSION_COOKIE,
                auth.issue(user),
                max_age=SESSION_SECONDS,
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        log.info("%s logged in as %s", user.name, user.role)
        return response

    async def logout(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if auth is not None and token:
            auth.revoke(token)  # ended on the server: a copy of the cookie no longer works
        response = RedirectResponse("/login", 303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
        return response

    routes: list[BaseRoute] = [
        Route("/", index),
        Route("/health", health_endpoint),
        Route("/login", login_form),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]
    managers: list[Any] = []  # marimo's session managers, one per notebook (in this process)
    sessions: dict[str, Any] | None = None  # None: the workers hold them (they check session ids)
    tables: dict[str, list[endpoints.Endpoint]] = {}
    if mounted:
        marimo_apps = MarimoApps.build(mounted, settings, show_tracebacks)
        tables = marimo_apps.tables
        if proxy is not None:
            routes.append(Mount("/", proxy))
        else:
            sessions = marimo_apps.sessions
            managers = list(sessions.values())
            routes.append(Mount("/", marimo_apps.app))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        checks = asyncio.create_task(_check_alerts(settings, alert_every)) if alert_every else None
        yield
        if checks is not None:
            checks.cancel()
        for manager in managers:  # mounted apps get no lifespan of their own: close their kernels
            await manager.shutdown()
        if proxy is not None:
            await proxy.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    log.info("serving %d notebook(s): %s", len(notebooks), ", ".join(nb.path for nb in notebooks) or "none")
    return Gate(app, auth, notebooks, routes=tables, sessions=sessions, throttle=logins, frontend=FrontEndFiles())


def _client(request: Request) -> str:
    return (request.client or ("-",))[0]


def display_locale(settings: Settings) -> str:
    """The locale marimo's front end formats dates with (its date pickers), as the browser
    names it (``en-GB``): the dashboards' (``NKDASH_LOCALE``, else the Odoo company's
    language when the server starts)."""
    from nkdash.dashboards.engine import Dashboard
    from nkdash.dashboards.formats import page_formats

    try:
        return page_formats(Dashboard(settings.lake, meta=None), settings).bcp47
    except (NKDashError, OSError):
        log.warning("could not read the company's language from the lake; dates as en-US", exc_info=True)
        return "en-US"


@dataclass
class MarimoApps:
    """marimo's run-mode app of every notebook at its path; per path, its session manager and
    its route table (what the gate's allow-list checks requests against)."""

    app: Starlette
    sessions: dict[str, Any]
    tables: dict[str, list[endpoints.Endpoint]]

    @classmethod
    def build(cls, mounted: list[tuple[Notebook, Path]], settings: Settings, show_tracebacks: bool) -> MarimoApps:
        import marimo

        shims.apply()
        builder = marimo.create_asgi_app(quiet=True, show_tracebacks=show_tracebacks, session_ttl=SESSION_TTL)
        for nb, file in mounted:
            builder = builder.with_app(path=nb.path, root=str(file))
        # marimo types these as any ASGI app: they are Starlette apps (the builder's, and one per notebook)
        notebook_apps = cast(Starlette, builder.build())
        mounts = {route.path: cast(Starlette, route.app) for route in notebook_apps.routes if isinstance(route, Mount)}
        sessions = {
            path: app.state.session_manager for path, app in mounts.items() if hasattr(app.state, "session_manager")
        }
        tables = {path: endpoints.walk(app.routes) for path, app in mounts.items()}
        for path, table in tables.items():
            lacking = set(endpoints.ALLOWED) - {e.template for e in table}
            if lacking:  # a marimo upgrade renamed what pages use: they may not work
                log.warning("marimo has no route %s under %s", ", ".join(sorted(lacking)), path)
        locale = display_locale(settings)
        for mounted_app in mounts.values():  # marimo's date pickers write dates as the dashboards do
            if hasattr(mounted_app.state, "config_manager"):
                mounted_app.state.config_manager = mounted_app.state.config_manager.with_overrides(
                    {"display": {"locale": locale}}
                )
        return cls(notebook_apps, sessions, tables)


def notebooks_app(settings: Settings, notebooks_dir: Path = NOTEBOOKS_DIR, *, show_tracebacks: bool = False) -> ASGIApp:
    """Only the notebooks behind a :class:`~nkdash.web.gate.WorkerGuard`: what a worker process
    serves (only the gate reaches it)."""
    marimo_apps = MarimoApps.build(available(notebooks_dir), settings, show_tracebacks)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for manager in marimo_apps.sessions.values():
            await manager.shutdown()

    notebooks = Starlette(routes=[Mount("/", marimo_apps.app)], lifespan=lifespan)
    return WorkerGuard(notebooks, marimo_apps.tables, marimo_apps.sessions)


def setup_logging(log_dir: Path, app_log: str = "web.log") -> None:
    """``access.log`` and ``app_log`` (``web.log``; a worker process: its own) in
    ``<log_dir>/web/``, rotated; replaces earlier ones.

    ``web.log`` gets INFO and up from every logger (marimo's, which does not propagate,
    included); the console keeps the threshold it had.
    """
    web = log_dir / "web"
    web.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for console in root.handlers:
        if console.level == logging.NOTSET and not console.get_name():
            console.setLevel(root.level)
    root.setLevel(min(root.level, logging.INFO))
    access_log.setLevel(logging.INFO)
    access_log.propagate = False
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # its INFO lines show query strings
    logging.getLogger("httpx").setLevel(
        logging.WARNING
    )  # the workers' proxy: a line per request (the access log has them)
    access = _rotating(web / "access.log", "%(asctime)s %(message)s")
    log_file = _rotating(web / app_log, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    for logger, handler in ((access_log, access), (root, log_file), (logging.getLogger("marimo"), log_file)):
        for old in [h for h in logger.handlers if h.get_name() == handler.get_name()]:
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)


def _rotating(path: Path, fmt: str) -> logging.Handler:
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS)
    handler.set_name(f"nkdash-{path.name}")
    handler.setFormatter(logging.Formatter(fmt))
    return handler


LISTEN_BACKLOG = 2048  # uvicorn's own default


def check_port(port: int) -> None:
    """A port to listen on: 0 (any free port) to 65535; else InputError naming ``--port``."""
    if not 0 <= port <= MAX_PORT:
        raise InputError(f"--port must be from 0 (any free port) to {MAX_PORT}, got {port}", port)


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port``, made with protocol ``IPPROTO_TCP``.

    Not ``socket.create_server``, whose sockets say protocol 0: asyncio turns Nagle's
    algorithm off (``TCP_NODELAY``) only on connections whose socket says TCP, and with it on
    every HTTP answer (uvicorn writes the headers and the body apart) waited ~40 ms for the
    browser's delayed ACK: 44 ms per request instead of 1.6, about 2 s of a page's first load
    (its ~300 front-end files over six connections)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    show_tracebacks: bool = False,
    no_auth: bool = False,
    announce: Callable[[str], None] = print,
    warm_up: bool = True,
) -> None:
    """Serve until SIGINT/SIGTERM (then return); ``announce`` gets the URL once the port is
    bound and the dashboards are warm (``warm_up``: each run once, and again when the lake
    changes). With ``NKDASH_WEB_WORKERS`` above 1 (and as many CPUs) the notebooks are served
    by that many worker processes (:mod:`nkdash.web.workers`), each warming itself.

    Port 0 picks a free port. Call from the main thread (signal handling).
    """
    import uvicorn

    host = host or settings.web_host
    port = settings.web_port if port is None else port
    check_port(port)
    if no_auth and not is_loopback(host):
        raise ConfigError("--no-auth", f"only allowed on a loopback address, not {host!r}")
    try:  # before build_app writes the session key and the logs: a bad address writes nothing
        sock = listen(host, port)
    except OSError as e:
        raise NKDashError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    bound = sock.getsockname()[1]
    count = worker_count(settings)
    workers = None
    try:
        workers = (
            Workers(settings, notebooks_dir, count, show_tracebacks=show_tracebacks).start() if count > 1 else None
        )
        app = build_app(
            settings,
            notebooks_dir,
            show_tracebacks=show_tracebacks,
            no_auth=no_auth,
            proxy=Proxy(workers.sockets) if workers is not None else None,
        )
    except BaseException:
        sock.close()
        if workers is not None:
            workers.stop()
        raise
    dashboards = serving_dashboards(notebooks_dir) if warm_up and workers is None else []  # workers warm themselves
    warm(dashboards)
    rewarmer = Rewarmer(settings.lake.absolute(), dashboards).start() if dashboards else None
    shown = f"[{host}]" if ":" in host else host
    if no_auth:
        log.warning(
            "serving WITHOUT authentication (--no-auth): anyone who can reach %s:%s is an operator", host, bound
        )
    announce(f"nkdash serving on http://{shown}:{bound}/  (Ctrl+C to stop)")
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5, ws_per_message_deflate=False
    )
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # uvicorn re-raises it after shutting down
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C, likewise re-raised after a graceful shutdown
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if rewarmer is not None:
            rewarmer.stop()
        if workers is not None:
            workers.stop()
    join_threads(KERNEL_GRACE)
    log.info("stopped")


def join_threads(timeout: float) -> None:
    """Let the notebooks' kernel threads wind down (exiting under one aborts in DuckDB's code)."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
