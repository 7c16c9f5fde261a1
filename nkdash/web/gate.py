"""The gate in front of the notebooks: who may open what.

Access
------
- Two roles from the settings: ``viewer`` (dashboards) and ``operator`` (everything). A
  role whose password is empty cannot log in. With no password at all :func:`build_app`
  refuses to start (:class:`ConfigError`, exit 2) unless ``no_auth`` is given, which
  makes everyone an operator and which :func:`serve` only allows on a loopback address.
- Credentials: the ``/login`` form sets a signed session cookie (HttpOnly, SameSite=Lax,
  Secure over https) lasting :data:`SESSION_SECONDS`; HTTP Basic is accepted on every
  request too (curl, monitoring). Passwords are compared with ``hmac.compare_digest``.
- A cookie is ``role:expiry:session id:hmac``, signed with a per-role key derived from a
  random key kept in ``<state_dir>/web-session.key`` and that role's user name and
  password: sessions survive restarts; logging out ends the session on the server (its id
  is revoked, in ``<state_dir>/web-sessions-revoked``: the cookie stays refused if replayed,
  restarts included); changing a password logs that role out; deleting the key file (and
  restarting) logs everyone out.
- Failed logins, by the form or HTTP Basic, are throttled per user name and per client
  address (:mod:`nkdash.web.throttle`): exponential delays, then a temporary lockout; a
  throttled attempt gets 429 and ``Retry-After`` without its password being checked.
- Public without login: ``/health`` (no business figures), ``/login``, and marimo's
  packaged front-end files under each notebook (``<nb>/assets/...``, favicons,
  ``manifest.json``): the same bytes as the public marimo wheel, no data, and browsers
  fetch the manifest without cookies.
- Under a notebook, only the marimo routes a page needs (:mod:`nkdash.web.endpoints`,
  checked against marimo's route table) are let through; every other one (the editor's
  files, workspace, version, export, packages...) answers 404 to everyone, and a virtual
  file or kernel session that does not exist a clean 404. An error inside marimo is one
  line in ``web.log``, not a traceback. Everything else, including the notebook pages,
  marimo's API and its WebSocket, needs a login: HTML page requests are redirected to
  ``/login``, other requests get 401 (WebSocket handshakes 403), with no data. A viewer
  opening an operator notebook gets 403.
- WebSocket handshakes and unsafe methods (POST...) whose ``Origin`` is another site are
  refused (403): the cookie must not let another local app drive a notebook.
- Expose the server to untrusted networks only behind a reverse proxy that provides TLS
  (the throttle then sees every client with the proxy's address: see its policies).

The role reaches the notebooks as ``scope["user"]`` (:func:`notebook_user`), set for every
request, WebSocket included, whatever the request carries: marimo passes it to the
session's kernel, and the dashboards hide cost and margin from viewers by it.

Notebooks read the lake through ``get_settings()``: :func:`build_app` exports
``NKDASH_LAKE`` (absolute) for them, and dashboards must open it with ``read_only=True``.
"""

from __future__ import annotations

import html
import json
import logging
import logging.handlers
import math
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from nkdash.notebooks import Notebook, Role, may_open
from nkdash.web import endpoints
from nkdash.web.auth import LOCAL_USER, SESSION_COOKIE, basic_credentials
from nkdash.web.endpoints import MARIMO_STATIC, Endpoint
from nkdash.web.pages import html_page
from nkdash.web.throttle import LoginThrottle

if TYPE_CHECKING:
    from nkdash.web.auth import Auth, User


access_log = logging.getLogger("nkdash.web.access")


log = logging.getLogger(__name__)


UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


IMMUTABLE = b"public, max-age=31536000, immutable"


class Gate:
    """ASGI middleware: who is asking, may they, and one access-log line per request.

    ``routes``: each notebook's marimo route table (:func:`nkdash.web.endpoints.walk`);
    ``sessions``: each notebook's marimo session manager (to tell a live session id)."""

    def __init__(
        self,
        app: ASGIApp,
        auth: Auth | None,
        notebooks: list[Notebook],
        *,
        routes: dict[str, list[Endpoint]] | None = None,
        sessions: dict[str, Any] | None = None,
        throttle: LoginThrottle | None = None,
        frontend: ASGIApp | None = None,
    ):
        self.app = app
        self.frontend = frontend  # serves marimo's front-end files (None: marimo's apps do)
        self.auth = auth  # None: no_auth
        self.notebooks = notebooks
        self.routes = routes or {}
        self.sessions = sessions  # None: held by worker processes, which check the ids themselves
        self.throttle = throttle or LoginThrottle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [0]
        frontend_file = self.frontend_file(scope["path"])
        immutable = frontend_file.startswith("assets/")  # names carry a content hash

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
        address = (scope.get("client") or ("-",))[0]
        needed = self.needed(scope["path"], scope.get("method", "GET"))
        user, wait = self.identify(headers, address, needed is not None)
        scope["nkdash.user"] = user
        scope["user"] = notebook_user(user)  # what the notebooks see (mo.app_meta().request.user), set on every request
        refusal = self.refusal(scope, headers, user, needed, wait)
        try:
            if refusal is None and immutable and self.frontend is not None and scope.get("method") in ("GET", "HEAD"):
                scope["nkdash.frontend_file"] = frontend_file
                await self.frontend(scope, receive, send_recording)
            elif refusal is None and self.notebook(scope["path"]):
                await self.marimo(scope, receive, send_recording, status)
            else:
                await (refusal or self.app)(scope, receive, send_recording)
        finally:
            access_log.info(
                "%s %s %s %s %s %s %.1fms",
                address,
                user.name if user else "-",
                user.role if user else "-",
                scope.get("method", "WS"),
                quote(scope["path"], safe="/:@!$&'()*+,;=-._~"),
                status[0],
                (time.perf_counter() - started) * 1000,
            )

    async def marimo(self, scope: Scope, receive: Receive, send: Send, status: list[int]) -> None:
        """marimo's answer; an error inside it is one line in the log, not a traceback (its own
        error handler has answered already, or a clean 500 is sent here)."""
        try:
            await self.app(scope, receive, send)
        except Exception as exc:  # marimo's errors: logged in one line, answered cleanly
            detail = " ".join(str(exc).split())[:200]
            log.warning(
                "marimo failed on %s %s: %s: %s", scope.get("method", "WS"), scope["path"], type(exc).__name__, detail
            )
            log.debug("marimo's traceback", exc_info=True)
            if not status[0] and scope["type"] == "http":
                await JSONResponse({"error": "the notebook server failed"}, 500)(scope, receive, send)

    def identify(self, headers: dict[str, str], address: str, check_basic: bool = True) -> tuple[User | None, float]:
        """The user, and how long a throttled HTTP Basic login must wait (0: not throttled)."""
        if self.auth is None:
            return LOCAL_USER, 0.0
        if "authorization" in headers:
            credentials = basic_credentials(headers["authorization"])
            if credentials is None or not check_basic:
                return None, 0.0
            wait = self.throttle.wait(credentials[0], address)
            if wait:
                return None, wait
            user = self.auth.check(*credentials)
            if user is None:
                self.throttle.failed(credentials[0], address)
            else:
                self.throttle.succeeded()
            return user, 0.0
        token = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        return (self.auth.verify(token) if token else None), 0.0

    def refusal(
        self, scope: Scope, headers: dict[str, str], user: User | None, needed: Role | None, wait: float = 0.0
    ) -> ASGIApp | None:
        """The response that refuses this request, or None to let it through."""
        websocket = scope["type"] == "websocket"
        if (websocket or scope["method"] in UNSAFE_METHODS) and not _same_origin(headers):
            return WebSocketClose(1008) if websocket else _denied(headers, 403, "cross-origin request refused")
        if needed is None:
            return None
        if wait:
            return WebSocketClose(1008) if websocket else throttled(headers, wait)
        if user is None:
            if websocket:
                return WebSocketClose(1008)
            if _wants_html(scope, headers) and "authorization" not in headers:
                return RedirectResponse(f"/login?next={quote(scope['path'])}", 303)
            return _denied(
                headers, 401, "authentication required", {"WWW-Authenticate": 'Basic realm="nkdash", charset="UTF-8"'}
            )
        if not may_open(user.role, needed):
            return WebSocketClose(1008) if websocket else _denied(headers, 403, f"this page needs the {needed} role")
        return self.marimo_refusal(scope, headers)

    def marimo_refusal(self, scope: Scope, headers: dict[str, str]) -> ASGIApp | None:
        """Under a notebook: refuse what no page needs of marimo, and what marimo cannot answer."""
        notebook = self.notebook(scope["path"])
        if notebook is None:
            return None
        websocket = scope["type"] == "websocket"
        rest, method = scope["path"][len(notebook.path) :], scope.get("method", "WEBSOCKET")
        if rest == "" and method in endpoints.GET:
            return None  # marimo's redirect to the page
        kind: endpoints.Kind = "websocket" if websocket else "http"
        route = endpoints.route_of(self.routes.get(notebook.path, []), rest, kind, method)
        if not endpoints.allowed(route, rest, kind, method):
            return WebSocketClose(1008) if websocket else _denied(headers, 404, "not found")
        assert route is not None  # allowed
        if route.template == endpoints.VIRTUAL_FILE:
            if rest in endpoints.EMPTY_FILES:
                return Response(b"", media_type="application/octet-stream")
            if self.sessions is not None and not endpoints.virtual_file_known(rest):  # None: the workers check
                return _denied(headers, 404, "no such file")
        if route.template in endpoints.SESSION_ROUTES and self.sessions is not None:  # None: the workers check
            return session_refusal(headers, self.sessions.get(notebook.path))
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
        rest = path[len(notebook.path) + 1 :] if notebook else ""
        return rest if rest.startswith("assets/") or rest in MARIMO_STATIC else ""


def notebook_user(user: User | None) -> dict[str, str | bool]:
    """The user as marimo hands it to a notebook's kernel (``mo.app_meta().request.user``):
    name and role, decided here from the request's credentials and nothing the request says
    about itself; empty when nobody is logged in. The dashboards hide cost from a viewer by
    it (:mod:`nkdash.dashboards.audience`)."""
    if user is None:
        return {}
    return {"username": user.name, "role": user.role, "is_authenticated": True}


def throttled(headers: dict[str, str], wait: float) -> Response:
    """429 for a login that must wait: too many failed logins for this user or address."""
    seconds = math.ceil(wait)
    return _denied(headers, 429, f"too many failed logins: try again in {seconds} s", {"Retry-After": str(seconds)})


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


def session_refusal(headers: dict[str, str], manager: Any) -> Response | None:
    """A kernel API request that names no session (400), or one ``manager`` does not hold
    (404): marimo would answer both with a 500 and a traceback."""
    session = headers.get("marimo-session-id")
    if not session:
        return _denied(headers, 400, "Marimo-Session-Id header required")
    if manager is None or manager.get_session(session) is None:
        return _denied(headers, 404, "no such session")
    return None


USER_HEADER = "x-nkdash-user"  # the user the gate decided, as it passes a request to a worker process


class WorkerGuard:
    """What a worker process serving the notebooks (:mod:`nkdash.web.workers`) puts in front of
    them. Only the gate reaches a worker (a Unix socket in a private directory); the gate drops
    any :data:`USER_HEADER` a client sends and sets its own, which becomes ``scope["user"]``
    here, as :class:`Gate` sets it in one process. The gate cannot check what the workers hold:
    the kernel API's session ids are checked here (:func:`session_refusal`), and the virtual
    files (a chart's data) a kernel of this worker made."""

    def __init__(self, app: ASGIApp, tables: dict[str, list[Endpoint]], sessions: dict[str, Any]):
        self.app, self.tables, self.sessions = app, tables, sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            try:
                scope["user"] = json.loads(headers.get(USER_HEADER) or "{}")
            except ValueError:
                scope["user"] = {}
            refusal = self.refusal(scope, headers) if scope["type"] == "http" else None
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        path = scope["path"]
        for prefix, table in self.tables.items():
            if path.startswith(prefix + "/"):
                rest = path[len(prefix) :]
                route = endpoints.route_of(table, rest, "http", scope.get("method", "GET"))
                if route is not None and route.template in endpoints.SESSION_ROUTES:
                    return session_refusal(headers, self.sessions.get(prefix))
                if (
                    route is not None
                    and route.template == endpoints.VIRTUAL_FILE
                    and not endpoints.virtual_file_known(rest)
                ):
                    return _denied(headers, 404, "no such file")  # made by another worker's kernel, or by none
        return None


def _denied(headers: dict[str, str], status: int, message: str, extra: dict[str, str] | None = None) -> Response:
    if "text/html" in headers.get("accept", ""):
        body = f'<p>{html.escape(message)}.</p><p><a href="/">Index</a> · <a href="/login">Log in</a></p>'
        return HTMLResponse(html_page("Access refused", body), status, headers=extra)
    return JSONResponse({"error": message}, status, headers=extra)
