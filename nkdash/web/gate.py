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

The role reaches the notebooks as ``scope["user"]`` (:func:`notebook_user`), set for every
request, WebSocket included, whatever the request carries: marimo passes it to the
session's kernel, and the dashboards hide cost and margin from viewers by it.

Notebooks read the lake through ``get_settings()``: :func:`build_app` exports
``NKDASH_LAKE`` (absolute) for them, and dashboards must open it with ``read_only=True``.
"""

from __future__ import annotations

import html
import logging
import logging.handlers
import time
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from nkdash.notebooks import Notebook, Role, may_open
from nkdash.web.auth import LOCAL_USER, SESSION_COOKIE
from nkdash.web.pages import html_page

if TYPE_CHECKING:
    from nkdash.web.auth import Auth, User


access_log = logging.getLogger("nkdash.web.access")


MARIMO_STATIC = (
    "favicon.ico",
    "manifest.json",
    "android-chrome-192x192.png",
    "android-chrome-512x512.png",
    "apple-touch-icon.png",
    "logo.png",
)


UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


IMMUTABLE = b"public, max-age=31536000, immutable"


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
        scope["user"] = notebook_user(user)  # what the notebooks see (mo.app_meta().request.user), set on every request
        refusal = self.refusal(scope, headers, user)
        try:
            await (refusal or self.app)(scope, receive, send_recording)
        finally:
            access_log.info(
                "%s %s %s %s %s %s %.1fms",
                (scope.get("client") or ("-",))[0],
                user.name if user else "-",
                user.role if user else "-",
                scope.get("method", "WS"),
                quote(scope["path"], safe="/:@!$&'()*+,;=-._~"),
                status[0],
                (time.perf_counter() - started) * 1000,
            )

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
            return _denied(
                headers, 401, "authentication required", {"WWW-Authenticate": 'Basic realm="nkdash", charset="UTF-8"'}
            )
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
        return HTMLResponse(html_page("Access refused", body), status, headers=extra)
    return JSONResponse({"error": message}, status, headers=extra)
