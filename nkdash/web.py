"""``nkdash serve``: every notebook at its own path behind a login, an index page, ``/health``.

One Starlette app: our routes (``/``, ``/login``, ``/logout``, ``/health``) first, then
marimo's multi-notebook ASGI app (run mode; each session's kernel is a thread of this
process) mounted at ``/``, all behind :class:`Gate`, the one place that decides access.

Access
------
- Two roles from the settings: ``viewer`` (dashboards) and ``operator`` (everything). A
  role whose password is empty cannot log in. With no password at all :func:`build_app`
  refuses to start (:class:`ConfigError`, exit 2) unless ``no_auth`` is given, which
  makes everyone an operator and which :func:`serve` only allows on a loopback address.
- Credentials: the ``/login`` form sets a signed session cookie (HttpOnly, SameSite=Lax,
  Secure over https) lasting :data:`SESSION_SECONDS`; HTTP Basic is accepted on every
  request too (curl, monitoring). Passwords are compared with ``hmac.compare_digest``.
- A cookie is ``role:expiry:hmac``, signed with a per-role key derived from a random key
  kept in ``<state_dir>/web-session.key`` and that role's user name and password: sessions
  survive restarts, changing a password logs that role out, deleting the key file (and
  restarting) logs everyone out.
- Public without login: ``/health`` (no business figures), ``/login``, and marimo's
  packaged front-end files under each notebook (``<nb>/assets/...``, favicons,
  ``manifest.json``): the same bytes as the public marimo wheel, no data, and browsers
  fetch the manifest without cookies. Everything else, including the notebook pages,
  marimo's API and its WebSocket, needs a login: HTML page requests are redirected to
  ``/login``, other requests get 401 (WebSocket handshakes 403), with no data. A viewer
  opening an operator notebook gets 403.
- WebSocket handshakes and unsafe methods (POST...) whose ``Origin`` is another site are
  refused (403): the cookie must not let another local app drive a notebook.
- No rate limiting of failed logins: expose the server to untrusted networks only behind
  a reverse proxy that provides it (and TLS).

Notebooks read the lake through ``get_settings()``: :func:`build_app` exports
``NKDASH_LAKE`` (absolute) for them, and dashboards must open it with ``read_only=True``.

Logs (rotating) in ``<log_dir>/web/``: ``access.log``, one line per request (time, client,
user, role, method, path, status, duration; never a query string, cookie or credential),
and ``web.log``, the application log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import html
import ipaddress
import logging
import logging.handlers
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Callable
from urllib.parse import quote, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from nkdash.errors import ConfigError, NKDashError
from nkdash.health import Health, QueueProbe, check_health, queue_status
from nkdash.notebooks import NOTEBOOKS_DIR, Notebook, Role, available, may_open
from nkdash.settings import Settings

log = logging.getLogger(__name__)
access_log = logging.getLogger("nkdash.web.access")

SESSION_COOKIE = "nkdash_session"
SESSION_SECONDS = 12 * 3600
KEY_FILE = "web-session.key"
HEALTH_TTL = 15.0  # /health is public: a scan at most this often
KERNEL_GRACE = 10.0  # seconds the notebooks' kernels get to stop after the server
LOG_BYTES, LOG_BACKUPS = 10 * 1024 * 1024, 5
MARIMO_STATIC = ("favicon.ico", "manifest.json", "android-chrome-192x192.png", "android-chrome-512x512.png",
                 "apple-touch-icon.png", "logo.png")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
IMMUTABLE = b"public, max-age=31536000, immutable"


@dataclass(frozen=True)
class User:
    name: str
    role: Role


class Auth:
    """The enabled roles' credentials, and the session cookies that stand for them."""

    def __init__(self, settings: Settings, key: bytes):
        accounts = {"operator": (settings.operator_user, settings.operator_password.get()),
                    "viewer": (settings.viewer_user, settings.viewer_password.get())}
        self._accounts = {role: (user, pw) for role, (user, pw) in accounts.items() if pw}
        self._keys = {role: hmac.digest(key, f"{role}\0{user}\0{pw}".encode(), "sha256")
                      for role, (user, pw) in self._accounts.items()}

    def check(self, username: str, password: str) -> User | None:
        """The user these credentials belong to (the operator first), else None."""
        found = None
        for role, (user, pw) in self._accounts.items():
            same = hmac.compare_digest(username.encode(), user.encode()) & hmac.compare_digest(
                password.encode(), pw.encode())
            if same and found is None:
                found = User(user, role)  # type: ignore[arg-type]
        return found

    def basic(self, header: str) -> User | None:
        """The user of an ``Authorization: Basic ...`` header, else None."""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return self.check(username, password) if sep else None

    def issue(self, user: User, now: float | None = None) -> str:
        payload = f"{user.role}:{int((now or time.time()) + SESSION_SECONDS)}"
        return f"{payload}:{self._sign(user.role, payload)}"

    def verify(self, token: str, now: float | None = None) -> User | None:
        """The user of a session cookie that is well signed, unexpired and of an enabled role."""
        role, _, rest = token.partition(":")
        expires, _, signature = rest.partition(":")
        if role not in self._keys or not (expires.isascii() and expires.isdigit()):
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(role, f"{role}:{expires}").encode()):
            return None
        if int(expires) < (now or time.time()):
            return None
        return User(self._accounts[role][0], role)  # type: ignore[arg-type]

    def _sign(self, role: str, payload: str) -> str:
        return hmac.new(self._keys[role], payload.encode(), hashlib.sha256).hexdigest()


def session_key(state_dir: Path) -> bytes:
    """The random key behind session cookies, created once (mode 0600) in ``state_dir``."""
    path = state_dir / KEY_FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) < 32:
            raise ConfigError("NKDASH_STATE_DIR", f"{path} is damaged: delete it (this logs everyone out)") from None
        return key
    except OSError as e:
        raise ConfigError("NKDASH_STATE_DIR", f"cannot create {path}: {e.strerror}") from None
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


# ----------------------------------------------------------------------------- the gate
LOCAL_USER = User("local", "operator")  # everyone, with no_auth


class Gate:
    """ASGI middleware: who is asking, may they, and one access-log line per request."""

    def __init__(self, app: ASGIApp, auth: Auth | None, notebooks: list[Notebook]):
        self.app = app
        self.auth = auth  # None: no_auth
        self.notebooks = notebooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [0]
        immutable = self.frontend_file(scope["path"]).startswith("assets/")  # names carry a content hash

        async def send_recording(message: Message) -> None:
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status[0] = message["status"]
                if immutable and status[0] == 200:
                    message["headers"] = [*message.get("headers", []), (b"cache-control", IMMUTABLE)]
            elif kind == "websocket.accept":
                status[0] = 101
            elif kind == "websocket.close" and not status[0]:
                status[0] = 403
            await send(message)

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        user = self.identify(headers)
        scope["nkdash.user"] = user
        refusal = self.refusal(scope, headers, user)
        try:
            await (refusal or self.app)(scope, receive, send_recording)
        finally:
            access_log.info("%s %s %s %s %s %s %.1fms", (scope.get("client") or ("-",))[0],
                            user.name if user else "-", user.role if user else "-",
                            scope.get("method", "WS"), quote(scope["path"], safe="/:@!$&'()*+,;=-._~"),
                            status[0], (time.perf_counter() - started) * 1000)

    def identify(self, headers: dict[str, str]) -> User | None:
        if self.auth is None:
            return LOCAL_USER
        if "authorization" in headers:
            return self.auth.basic(headers["authorization"])
        token = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        return self.auth.verify(token) if token else None

    def refusal(self, scope: Scope, headers: dict[str, str], user: User | None) -> ASGIApp | None:
        """The response that refuses this request, or None to let it through."""
        websocket = scope["type"] == "websocket"
        if (websocket or scope["method"] in UNSAFE_METHODS) and not _same_origin(headers):
            return WebSocketClose(1008) if websocket else _denied(headers, 403, "cross-origin request refused")
        needed = self.needed(scope["path"], scope.get("method", "GET"))
        if needed is None:
            return None
        if user is None:
            if websocket:
                return WebSocketClose(1008)
            if _wants_html(scope, headers) and "authorization" not in headers:
                return RedirectResponse(f"/login?next={quote(scope['path'])}", 303)
            return _denied(headers, 401, "authentication required",
                           {"WWW-Authenticate": 'Basic realm="nkdash", charset="UTF-8"'})
        if not may_open(user.role, needed):
            return WebSocketClose(1008) if websocket else _denied(headers, 403, f"this page needs the {needed} role")
        return None

    def needed(self, path: str, method: str) -> Role | None:
        """The least role a path needs; None if it is public."""
        if path in ("/health", "/login") or (method in ("GET", "HEAD") and self.frontend_file(path)):
            return None
        notebook = self.notebook(path)
        return notebook.role if notebook else "viewer"

    def notebook(self, path: str) -> Notebook | None:
        return next((nb for nb in self.notebooks if path == nb.path or path.startswith(nb.path + "/")), None)

    def frontend_file(self, path: str) -> str:
        """The part after the notebook's path if it names a marimo front-end file, else ''."""
        notebook = self.notebook(path)
        rest = path[len(notebook.path) + 1:] if notebook else ""
        return rest if rest.startswith("assets/") or rest in MARIMO_STATIC else ""


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _same_origin(headers: dict[str, str]) -> bool:
    """No Origin (not a browser's cross-site request) or an Origin naming this host."""
    origin = headers.get("origin")
    return origin is None or urlsplit(origin).netloc == headers.get("host")


def _wants_html(scope: Scope, headers: dict[str, str]) -> bool:
    return scope["method"] in ("GET", "HEAD") and "text/html" in headers.get("accept", "")


def _denied(headers: dict[str, str], status: int, message: str, extra: dict[str, str] | None = None) -> Response:
    if "text/html" in headers.get("accept", ""):
        body = f'<p>{html.escape(message)}.</p><p><a href="/">Index</a> · <a href="/login">Log in</a></p>'
        return HTMLResponse(_page("Access refused", body), status, headers=extra)
    return JSONResponse({"error": message}, status, headers=extra)


# ----------------------------------------------------------------------------- pages
STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse}td,th{padding:.2rem .8rem;border-bottom:1px solid #ddd;text-align:left}
.ok{color:#17703a}.late,.degraded{color:#a86400}.critical,.fail,.error{color:#b00020}form.inline{display:inline}
label{display:block;margin:.5rem 0}input{font:inherit;padding:.2rem}
header{display:flex;justify-content:space-between;align-items:center}"""


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · nkdash</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,"><style>{STYLE}</style></head>'
            f"<body>{body}</body></html>")


PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "same-origin"}


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no ``//host`` or scheme): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def login_page(next_: str, error: str = "", status: int = 200) -> HTMLResponse:
    body = (f"<h1>nkdash</h1>{f'<p class=error>{html.escape(error)}</p>' if error else ''}"
            f'<form method="post" action="/login"><input type="hidden" name="next" value="{html.escape(next_)}">'
            '<label>User <input name="username" autocomplete="username" required autofocus></label>'
            '<label>Password <input name="password" type="password" autocomplete="current-password" required>'
            '</label><button type="submit">Log in</button></form>')
    return HTMLResponse(_page("Log in", body), status, headers=PAGE_HEADERS)


def index_page(user: User, notebooks: list[Notebook], health: Health) -> HTMLResponse:
    links = "".join(f'<li><a href="{nb.path}/">{html.escape(nb.title)}</a> — {html.escape(nb.description)}</li>'
                    for nb in notebooks if may_open(user.role, nb.role))
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{d['last_loaded'] or 'never'}</td>"
                   f"<td class='{d['status']}'>{d['status']}</td><td>{d['missing']}</td><td>{d['failed']}</td></tr>"
                   for name, d in health.lake["datasets"].items())
    logout = ('<form class=inline method="post" action="/logout"><button type="submit">Log out</button></form>'
              if user is not LOCAL_USER else "")
    body = (f"<header><h1>nkdash</h1><div>{html.escape(user.name)} ({user.role}) {logout}</div></header>"
            f"<h2>Notebooks</h2><ul>{links or '<li>No notebook is installed yet.</li>'}</ul>"
            f"<h2>Data freshness</h2><p>Overall: <span class='{health.status}'>{health.status}</span></p>"
            "<table><tr><th>dataset</th><th>last loaded</th><th>status</th><th>missing dates</th>"
            f"<th>failed dates</th></tr>{rows}</table>")
    return HTMLResponse(_page("Index", body), headers=PAGE_HEADERS)


# ----------------------------------------------------------------------------- the app
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


def build_app(settings: Settings, notebooks_dir: Path = NOTEBOOKS_DIR, *, show_tracebacks: bool = False,
              no_auth: bool = False, queue_probe: QueueProbe = queue_status,
              health_ttl: float = HEALTH_TTL) -> ASGIApp:
    """The web app: our routes, then every available notebook at its path, behind :class:`Gate`.

    Sets up the logs in ``<log_dir>/web/`` and exports ``NKDASH_LAKE`` for the notebooks.
    Raises :class:`ConfigError` if no password is set and ``no_auth`` is not given.
    """
    import marimo

    if not (no_auth or settings.viewer_password or settings.operator_password):
        raise ConfigError("NKDASH_VIEWER_PASSWORD/NKDASH_OPERATOR_PASSWORD",
                          "no web password is set; set one in .env (or pass --no-auth for local use only)")
    auth = None if no_auth else Auth(settings, session_key(settings.state_dir))
    setup_logging(settings.log_dir)
    os.environ["NKDASH_LAKE"] = str(settings.lake.absolute())
    mounted = available(notebooks_dir)
    notebooks = [nb for nb, _ in mounted]
    health = _HealthCache(lambda: check_health(settings, queue_probe), health_ttl)

    async def index(request: Request) -> Response:
        return index_page(request.scope["nkdash.user"], notebooks, await health.get())

    async def health_endpoint(request: Request) -> Response:
        report = await health.get()
        return JSONResponse(report.to_dict(), 200 if report.ok else 503, headers={"Cache-Control": "no-store"})

    async def login_form(request: Request) -> Response:
        return login_page(_safe_next(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        form = await request.form()
        target = _safe_next(str(form.get("next", "")))
        user = auth.check(str(form.get("username", "")), str(form.get("password", ""))) if auth else LOCAL_USER
        if user is None:
            log.warning("failed login from %s", (request.client or ("-",))[0])
            return login_page(target, "Wrong user name or password.", 401)
        response = RedirectResponse(target, 303)
        if auth is not None:
            response.set_cookie(SESSION_COOKIE, auth.issue(user), max_age=SESSION_SECONDS, httponly=True,
                                samesite="lax", secure=request.url.scheme == "https")
        log.info("%s logged in as %s", user.name, user.role)
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", 303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
        return response

    routes = [Route("/", index), Route("/health", health_endpoint), Route("/login", login_form),
              Route("/login", login, methods=["POST"]), Route("/logout", logout, methods=["POST"])]
    managers = []  # marimo's session managers, one per notebook
    if mounted:
        builder = marimo.create_asgi_app(quiet=True, show_tracebacks=show_tracebacks)
        for nb, file in mounted:
            builder = builder.with_app(path=nb.path, root=str(file))
        notebook_apps = builder.build()
        managers = [route.app.state.session_manager for route in notebook_apps.routes
                    if isinstance(route, Mount) and hasattr(route.app.state, "session_manager")]
        routes.append(Mount("/", notebook_apps))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for manager in managers:  # mounted apps get no lifespan of their own: close their kernels
            await manager.shutdown()

    app = Starlette(routes=routes, lifespan=lifespan)
    log.info("serving %d notebook(s): %s", len(notebooks), ", ".join(nb.path for nb in notebooks) or "none")
    return Gate(app, auth, notebooks)


# ----------------------------------------------------------------------------- logs
def setup_logging(log_dir: Path) -> None:
    """``access.log`` and ``web.log`` in ``<log_dir>/web/``, rotated; replaces earlier ones.

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
    access = _rotating(web / "access.log", "%(asctime)s %(message)s")
    app_log = _rotating(web / "web.log", "%(asctime)s %(levelname)s %(name)s: %(message)s")
    for logger, handler in ((access_log, access), (root, app_log), (logging.getLogger("marimo"), app_log)):
        for old in [h for h in logger.handlers if h.get_name() == handler.get_name()]:
            logger.removeHandler(old)
            old.close()
        logger.addHandler(handler)


def _rotating(path: Path, fmt: str) -> logging.Handler:
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS)
    handler.set_name(f"nkdash-{path.name}")
    handler.setFormatter(logging.Formatter(fmt))
    return handler


# ----------------------------------------------------------------------------- serving
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, *, host: str | None = None, port: int | None = None,
          notebooks_dir: Path = NOTEBOOKS_DIR, show_tracebacks: bool = False, no_auth: bool = False,
          announce: Callable[[str], None] = print) -> None:
    """Serve until SIGINT/SIGTERM (then return); ``announce`` gets the URL once the port is bound.

    Port 0 picks a free port. Call from the main thread (signal handling).
    """
    import uvicorn

    host = host or settings.web_host
    port = settings.web_port if port is None else port
    if no_auth and not is_loopback(host):
        raise ConfigError("--no-auth", f"only allowed on a loopback address, not {host!r}")
    app = build_app(settings, notebooks_dir, show_tracebacks=show_tracebacks, no_auth=no_auth)
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as e:
        raise NKDashError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    if no_auth:
        log.warning("serving WITHOUT authentication (--no-auth): anyone who can reach %s:%s is an operator",
                    host, bound)
    announce(f"nkdash serving on http://{shown}:{bound}/  (Ctrl+C to stop)")
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5, ws_per_message_deflate=False)
    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # uvicorn re-raises it after shutting down
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C, likewise re-raised after a graceful shutdown
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    _join_threads(KERNEL_GRACE)
    log.info("stopped")


def _join_threads(timeout: float) -> None:
    """Let the notebooks' kernel threads wind down (exiting under one aborts in DuckDB's code)."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
