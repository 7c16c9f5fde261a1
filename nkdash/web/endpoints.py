"""What a notebook's page may use of marimo's server: an allow-list over marimo's own route table.

marimo's ASGI app carries the routes of its editor too (files, secrets, packages, export,
AI, terminal, home...). In run mode it refuses most by itself, not all: a viewer could list
the server's notebook paths (``api/home/workspace_files``), read marimo's version, or ask
for a virtual file that does not exist (a 200 header, then a dropped connection and
tracebacks). So the gate walks the route table of every mounted notebook (:func:`walk`)
and lets a request through only when the route marimo would give it is in
:data:`ALLOWED`, each with the reason a page needs it. Every other route, one a new marimo
version adds included, is refused (404) for everyone, viewer and operator alike.

The notebook's address without its slash is marimo's redirect to the page (a route of
the app that mounts the notebooks, not of the notebook's own table); it is let through.

Two allowed routes are checked further, so that marimo is only asked what it can answer:
a virtual file must be one a kernel made (:func:`virtual_file_known`), and the kernel
requests must name a live session of that notebook (the ``Marimo-Session-Id`` header).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute, compile_path

Kind = Literal["http", "websocket"]


GET = frozenset({"GET", "HEAD"})


POST = frozenset({"POST"})


WEBSOCKET = frozenset({"WEBSOCKET"})


MARIMO_STATIC = (
    "favicon.ico",
    "manifest.json",
    "android-chrome-192x192.png",
    "android-chrome-512x512.png",
    "apple-touch-icon.png",
    "logo.png",
)


@dataclass(frozen=True)
class Allowed:
    methods: frozenset[str]
    reason: str


ALLOWED: dict[str, Allowed] = {  # route template, relative to the notebook's path -> what a page needs it for
    "/": Allowed(GET, "the page itself"),
    "/assets/{path:path}": Allowed(GET, "the front end's files (public: the same bytes as marimo's wheel)"),
    "/{path:path}": Allowed(GET, f"the icons and manifest a browser asks for ({', '.join(MARIMO_STATIC)}), only"),
    "/public-files-sw.js": Allowed(GET, "the service worker the page registers"),
    "/health": Allowed(GET, "the page polls it to know the server is up"),
    "/ws": Allowed(WEBSOCKET, "the page's session: its kernel's outputs and the controls' updates"),
    "/api/kernel/set_ui_element_value": Allowed(POST, "a control (dropdown, date, slider, button) changed"),
    "/api/kernel/function_call": Allowed(POST, "tables and charts ask the kernel (paging, sorting, search)"),
    "/api/kernel/set_model_value": Allowed(POST, "a widget's state changed (anywidget)"),
    "/@file/{filename_and_length:path}": Allowed(GET, "charts' data and downloads: files a kernel made"),
}


SESSION_ROUTES = ("/api/kernel/set_ui_element_value", "/api/kernel/function_call", "/api/kernel/set_model_value")


VIRTUAL_FILE = "/@file/{filename_and_length:path}"


@dataclass(frozen=True)
class Endpoint:
    """One route of marimo's table, its template relative to the notebook."""

    template: str
    kind: Kind
    methods: frozenset[str]
    regex: Any  # re.Pattern[str]

    def matches(self, rest: str, kind: Kind, method: str) -> Literal["full", "partial", None]:
        if self.kind != kind or not self.regex.match(rest):
            return None
        return "full" if kind == "websocket" or method in self.methods else "partial"


def walk(routes: Iterable[BaseRoute], prefix: str = "") -> list[Endpoint]:
    """Every route of a marimo app, flattened in the order Starlette tries them."""
    found: list[Endpoint] = []
    for route in routes:
        if isinstance(route, Mount):
            inner = getattr(route.app, "routes", None)
            if inner is not None:
                found += walk(inner, prefix + route.path)
            else:  # static files: anything under the mount
                template = prefix + route.path + "/{path:path}"
                found += [Endpoint(template, kind, GET, compile_path(template)[0]) for kind in ("http", "websocket")]
        elif isinstance(route, Route):
            template = prefix + route.path
            found.append(Endpoint(template, "http", frozenset(route.methods or ()), compile_path(template)[0]))
        elif isinstance(route, WebSocketRoute):
            template = prefix + route.path
            found.append(Endpoint(template, "websocket", WEBSOCKET, compile_path(template)[0]))
    return found


def route_of(table: list[Endpoint], rest: str, kind: Kind, method: str) -> Endpoint | None:
    """The route marimo would give a request for ``rest`` (the path after the notebook's), as
    Starlette picks it: the first full match, else the first that matches all but the method."""
    partial = None
    for endpoint in table:
        match = endpoint.matches(rest, kind, method)
        if match == "full":
            return endpoint
        partial = partial or (endpoint if match == "partial" else None)
    return partial


def allowed(endpoint: Endpoint | None, rest: str, kind: Kind, method: str) -> bool:
    """Whether a page may use ``endpoint`` this way (see :data:`ALLOWED`)."""
    if endpoint is None or endpoint.template not in ALLOWED:
        return False
    entry = ALLOWED[endpoint.template]
    if kind == "websocket":
        return entry.methods == WEBSOCKET
    if method not in entry.methods:
        return False
    return endpoint.template != "/{path:path}" or rest.lstrip("/") in MARIMO_STATIC


def virtual_file_known(rest: str) -> bool:
    """``/@file/<bytes>-<name>``: a file a kernel of this process made (marimo would otherwise
    look for it in shared memory under any name asked, and fail after its 200 header).
    marimo's empty file (``@file/0-empty.txt``, ``@file/empty.txt``) is answered by the gate."""
    length, sep, name = rest.removeprefix("/@file/").partition("-")
    if not (sep and length.isascii() and length.isdigit() and name):
        return False
    try:
        from marimo._runtime.virtual_file.storage import VirtualFileStorageManager
    except ImportError:  # marimo moved it: refuse rather than guess
        return False
    storage = VirtualFileStorageManager().storage
    return storage is not None and bool(storage.has(name))


EMPTY_FILES = ("/@file/empty.txt", "/@file/0-empty.txt")
