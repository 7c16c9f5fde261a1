"""An Odoo-compatible HTTP server over a demo :class:`~nkdash.demo.store.Database`.

:class:`OdooApp` answers requests the way Odoo 16-19 does (routes, envelopes, error
bodies, status codes); :class:`DemoServer` serves it over HTTP on 127.0.0.1 with
injectable faults (:mod:`nkdash.demo.faults`) and counters for tests.

Endpoints: ``GET /web/version``; JSON-RPC ``/web/webclient/version_info``,
``/web/database/list``, ``/jsonrpc`` (services ``common``, ``object``, ``db``) and the
session routes ``/web/session/authenticate``, ``/web/session/get_session_info``,
``/web/session/destroy``, ``/web/dataset/call_kw[/...]``; XML-RPC ``/xmlrpc/2/<service>``
and the historical ``/xmlrpc/<service>`` (services ``common``, ``object``, ``db``; they
differ only in their fault codes, see :mod:`nkdash.demo.wire`); JSON-2
``POST /json/2/<model>/<method>`` on Odoo 19 (404 before).
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import secrets
import socket
import threading
import xmlrpc.client
from collections import Counter
from collections.abc import Callable
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

from nkdash.demo.exceptions import AccessDenied, UserError
from nkdash.demo.faults import FaultKind, Faults
from nkdash.demo.orm import Registry
from nkdash.demo.store import Database, User
from nkdash.demo.wire import (
    HTTPError,
    Request,
    Response,
    SessionExpired,
    WithHeaders,
    html_error,
    json2_error,
    json_response,
    serialize_exception,
    xmlrpc_fault,
    xmlrpc_legacy_fault,
)

logger = logging.getLogger(__name__)

BEARER = re.compile(r"^bearer\s+(.+)$", re.I)
XMLRPC = re.compile(r"/xmlrpc/(2/)?([^/]+)")  # Odoo's routes /xmlrpc/2/<service> and /xmlrpc/<service>


# --------------------------------------------------------------------------- the application
class OdooApp:
    """Odoo's HTTP layer over one database: ``app(request) -> response``."""

    def __init__(self, db: Database):
        self.db = db
        self.registry = Registry(db)
        self.version = db.version
        self.model_calls: Counter[str] = Counter()
        self._sessions: dict[str, int] = {}  # session_id -> uid
        self._lock = threading.Lock()
        self.json_routes = {  # path -> route(params, request)
            "/jsonrpc": self.web_jsonrpc,
            "/web/webclient/version_info": lambda params, request: self.rpc_version(),
            "/web/database/list": lambda params, request: [self.db.name],
            "/web/session/authenticate": self.web_authenticate,
            "/web/session/get_session_info": self.web_session_info,
            "/web/session/destroy": self.web_destroy,
            "/web/dataset/call_kw": self.web_call_kw,
        }

    def __call__(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/json/2"):
            return self.json2(request)
        if request.method == "GET" and path == "/web/version":
            return json_response(self.version_payload())
        if request.method != "POST":
            return html_error(404)
        xmlrpc_route = XMLRPC.fullmatch(path)
        if xmlrpc_route:
            fault = xmlrpc_fault if xmlrpc_route.group(1) else xmlrpc_legacy_fault
            return self.xmlrpc(request, xmlrpc_route.group(2), fault)
        route = self.json_routes.get(path)
        if route is None and path.startswith("/web/dataset/call_kw/"):
            route = self.web_call_kw
        if route is None:
            return html_error(404)
        return self.jsonrpc(request, route)

    # versions ----------------------------------------------------------------
    def version_payload(self) -> dict:
        return {"version_info": [self.version, 0, 0, "final", 0, ""], "version": f"{self.version}.0"}

    def rpc_version(self) -> dict:
        return {
            "server_version": f"{self.version}.0",
            "server_version_info": [self.version, 0, 0, "final", 0, ""],
            "server_serie": f"{self.version}.0",
            "protocol_version": 1,
        }

    # JSON-RPC ----------------------------------------------------------------
    def jsonrpc(self, request: Request, route) -> Response:
        try:
            payload = json.loads(request.body or b"{}")
            request_id = payload.get("id")
            params = payload.get("params") or {}
        except (ValueError, AttributeError):
            return Response(400, b"Invalid JSON data", "text/html; charset=utf-8")
        try:
            result = route(params, request)
        except Exception as exc:  # noqa: BLE001 — any error becomes Odoo's error answer
            return json_response({"jsonrpc": "2.0", "id": request_id, "error": self.jsonrpc_error(exc)})
        result, headers = result if isinstance(result, WithHeaders) else (result, [])
        envelope = {"jsonrpc": "2.0", "id": request_id}
        if result is not None:
            envelope["result"] = result
        return json_response(envelope, headers=headers)

    def jsonrpc_error(self, exc: BaseException) -> dict:
        if isinstance(exc, SessionExpired):
            code, message = 100, "Odoo Session Expired"
        else:  # Odoo 16-18 send 200 ("arbitrary"), 19 sends 0 ("we don't care of this code")
            code, message = (200 if self.version <= 18 else 0), "Odoo Server Error"
        return {"code": code, "message": message, "data": serialize_exception(exc)}

    # XML-RPC -----------------------------------------------------------------
    def xmlrpc(
        self, request: Request, service: str, fault: Callable[[BaseException], xmlrpc.client.Fault] = xmlrpc_fault
    ) -> Response:
        try:
            params, method = xmlrpc.client.loads(request.body, use_datetime=True)
            body = xmlrpc.client.dumps((self.dispatch_rpc(service, method, params),), methodresponse=True)
        except Exception as exc:  # noqa: BLE001 — any error becomes Odoo's error answer
            body = xmlrpc.client.dumps(fault(exc), methodresponse=True)
        return Response(200, body.encode(), "text/xml; charset=utf-8")

    # services (common, object, db) -------------------------------------------
    def web_jsonrpc(self, params: Any, request: Request) -> Any:  # params: the JSON as sent
        return self.dispatch_rpc(params.get("service"), params.get("method"), params.get("args", []))

    def dispatch_rpc(self, service: str | None, method: str | None, params: Any) -> Any:  # as the client sent them
        if service == "object" and method not in ("execute", "execute_kw"):
            raise NameError(f"Method not available {method}")
        if service not in ("common", "object", "db"):
            raise KeyError(service)
        func = getattr(self, f"{service}_{method}", None)
        if func is None:
            raise KeyError(f"exp_{method}")
        return func(*params)

    def common_version(self) -> dict:
        return self.rpc_version()

    def common_about(self, extended=False):
        info = "See http://openerp.com"
        return [info, f"{self.version}.0"] if extended else info

    def common_login(self, db, login, password):
        return self.registry.authenticate(db, login, password)

    def common_authenticate(self, db, login, password, user_agent_env):
        return self.registry.authenticate(db, login, password)

    def object_execute_kw(self, db, uid, password, model, method, args, kwargs=None):
        return self.call_kw(self.registry.user(db, uid, password), model, method, args, kwargs or {})

    def object_execute(self, db, uid, password, model, method, *args):
        return self.call_kw(self.registry.user(db, uid, password), model, method, args, {})

    def db_list(self, document=False):
        return [self.db.name]

    def db_db_exist(self, db_name):
        return db_name == self.db.name

    def db_server_version(self):
        return f"{self.version}.0"

    def call_kw(self, user: User, model: str, method: str, args, kwargs: dict) -> Any:
        """``odoo.api.call_kw``: the context comes out of the kwargs; unknown models are UserErrors."""
        kwargs = dict(kwargs)
        env = self.registry.env(user, kwargs.pop("context", None) or {})
        if model not in env:
            raise UserError(f"Object {model} doesn't exist")
        self._count(f"{model}.{method}")
        return env[model].call(method, list(args or []), kwargs)

    def _count(self, key: str) -> None:
        with self._lock:
            self.model_calls[key] += 1

    # web sessions ------------------------------------------------------------
    def web_authenticate(self, params: Any, request: Request) -> WithHeaders:  # params: the JSON as sent
        uid = self.registry.authenticate(params.get("db"), params.get("login"), params.get("password"))
        if not uid:
            raise AccessDenied()
        sid = secrets.token_hex(20)
        with self._lock:
            self._sessions[sid] = uid
        user = self.registry.find_user(uid)
        assert user is not None  # it just logged in
        info = self.session_info(user)
        return WithHeaders(info, [("Set-Cookie", f"session_id={sid}; HttpOnly; Path=/")])

    def web_session_info(self, params: dict, request: Request) -> dict:
        return self.session_info(self.session_user(request))

    def web_destroy(self, params: dict, request: Request) -> None:
        with self._lock:
            self._sessions.pop(self._session_id(request) or "", None)  # no cookie: no session

    def web_call_kw(self, params: Any, request: Request) -> Any:  # params: the JSON as sent
        user = self.session_user(request)
        return self.call_kw(
            user, params.get("model"), params.get("method"), params.get("args", []), params.get("kwargs") or {}
        )

    def session_user(self, request: Request) -> User:
        uid = self._sessions.get(self._session_id(request) or "")  # no cookie: no session
        user = self.registry.find_user(uid) if uid else None
        if user is None:
            raise SessionExpired()
        return user

    def session_info(self, user: User) -> dict:
        context = self.registry.env(user)["res.users"].context_get()
        return {
            "uid": user.uid,
            "db": self.db.name,
            "username": user.login,
            "user_context": context,
            "is_admin": user.allowed_models is None,
            "is_system": user.allowed_models is None,
            "server_version": f"{self.version}.0",
            "server_version_info": [self.version, 0, 0, "final", 0, ""],
        }

    @staticmethod
    def _session_id(request: Request) -> str | None:
        cookie = SimpleCookie(request.headers.get("cookie", ""))
        return cookie["session_id"].value if "session_id" in cookie else None

    # JSON-2 (Odoo 19) --------------------------------------------------------
    def json2(self, request: Request) -> Response:
        if self.version < 19:
            return html_error(404)
        header_db = request.headers.get("x-odoo-database")
        if header_db is not None and header_db != self.db.name:
            return html_error(404)  # Odoo cannot open that registry and falls back to no-db routes
        match = re.fullmatch(r"/json/2/([^/]+)/([^/]+)", request.path)
        try:
            if request.method != "POST" or not match:
                raise HTTPError(404, "Did you mean POST /json/2/<model>/<method>?")
            result = self.json2_call(request, *match.groups())
        except HTTPError as exc:
            return json_response(serialize_exception(exc), exc.status, exc.headers)
        except UserError as exc:
            return json_response(serialize_exception(exc), exc.http_status)
        except Exception as exc:  # noqa: BLE001 — any error becomes Odoo's error answer
            return json_response(serialize_exception(exc), 500)
        return json_response(result)

    def json2_call(self, request: Request, model: str, method: str) -> Any:
        user = self.bearer_user(request)
        kwargs = self.json2_body(request)
        ids = kwargs.pop("ids", None) or []
        env = self.registry.env(user, kwargs.pop("context", None) or {})
        if model not in env:
            raise HTTPError(404, f"the model {model!r} does not exist")
        api = env[model]
        try:
            func = api.public_method(method)
        except AttributeError as exc:
            raise HTTPError(404, str(exc)) from exc
        if ids and not func.rpc_records:
            raise HTTPError(422, f"cannot call {model}.{method} with ids")
        args = [ids] if func.rpc_records else []
        try:
            inspect.signature(func).bind(api, *args, **kwargs)
        except TypeError as exc:
            raise HTTPError(422, str(exc)) from exc
        self._count(f"{model}.{method}")
        return api.call(method, args, kwargs)

    def bearer_user(self, request: Request) -> User:
        challenge = [("WWW-Authenticate", "Bearer")]
        match = BEARER.match(request.headers.get("authorization", ""))
        if not match:
            raise HTTPError(
                401, "User not authenticated, use an API Key with a Bearer Authorization header.", challenge
            )
        user = self.registry.api_key_user(match.group(1).strip())
        if user is None:
            raise HTTPError(401, "Invalid apikey", challenge)
        return user

    @staticmethod
    def json2_body(request: Request) -> dict:
        if not request.body:
            return {}
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            raise HTTPError(400, f"could not parse the body as json: {exc.args[0]}") from exc
        if not isinstance(body, dict):
            raise HTTPError(400, "could not parse the body, expecting a json object")
        return body


# --------------------------------------------------------------------------- the server
class DemoServer:
    """The demo Odoo over HTTP: ``with DemoServer(db) as srv: ... srv.url``.

    ``faults`` and ``down`` can be changed while it runs. Faults apply to every request
    except ``GET /web/version`` (kept reliable so version detection stays simple);
    ``down = True`` closes every connection without an answer. Counters: ``calls`` per
    endpoint, ``model_calls`` per ``model.method``, ``injected`` per fault kind.
    """

    def __init__(self, db: Database, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None):
        self.app = OdooApp(db)
        self.faults = faults or Faults()
        self.down = False
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.demo = self

    # public ------------------------------------------------------------------
    @property
    def db(self) -> Database:
        return self.app.db

    @property
    def registry(self) -> Registry:
        return self.app.registry

    @property
    def model_calls(self) -> Counter[str]:
        return self.app.model_calls

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]!s}:{self.port}"

    def start(self) -> DemoServer:
        """Serve in a background thread (a no-op when already serving)."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"demo-odoo-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` (from another thread) or Ctrl+C."""
        self.start()
        try:
            self.wait()
        finally:
            self.stop()

    def wait(self) -> None:
        """Block until :meth:`stop` is called (for a server started with :meth:`start`)."""
        self._stopping.wait()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._close()

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # used by the handler -----------------------------------------------------
    def count(self, counter: Counter, key: str) -> None:
        with self._lock:
            counter[key] += 1

    def fault(self, request: Request) -> FaultKind | None:
        """Draw the request's fault (if any) and apply its latency."""
        if request.method == "GET" and request.path == "/web/version":
            return None
        faults = self.faults
        kind = faults.draw()
        if kind is not None:
            self.count(self.injected, kind)
        delay = faults.delay(kind)
        if delay and self._stopping.wait(delay):
            raise ConnectionAbortedError("server stopping")
        if kind == "reset":
            raise ConnectionAbortedError("injected: connection closed without an answer")
        return kind

    def error_response(self, request: Request) -> Response:
        """An injected HTTP error, as Odoo (or the proxy in front of it) sends it."""
        status = self.faults.error_status()
        headers = [("Retry-After", "1")] if status == 429 else []
        if request.path.startswith("/json/2"):
            return json2_error(status, headers)
        return html_error(status, headers)

    def _close(self) -> None:
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def endpoint(path: str) -> str:
    """The counter key of a path: JSON-2 and call_kw paths are grouped."""
    for prefix in ("/json/2", "/web/dataset/call_kw"):
        if path.startswith(prefix):
            return prefix
    return path


class _HTTPServer(ThreadingHTTPServer):
    demo: DemoServer  # what its handlers serve


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave in two writes: no delayed-ACK stall
    server_version = "Werkzeug/3.0.1"
    sys_version = "Python/3.11"

    @property
    def demo(self) -> DemoServer:
        return cast(_HTTPServer, self.server).demo  # the server that made this handler

    def setup(self) -> None:
        super().setup()
        with self.demo._lock:
            self.demo._connections.add(self.connection)

    def finish(self) -> None:
        with self.demo._lock:
            self.demo._connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(method, urlsplit(self.path).path, {k.lower(): v for k, v in self.headers.items()}, body)
        demo = self.demo
        if demo.down:
            self.close_connection = True
            return
        demo.count(demo.calls, endpoint(request.path))
        try:
            fault = demo.fault(request)
            response = demo.error_response(request) if fault == "error" else demo.app(request)
        except ConnectionAbortedError:
            self.close_connection = True
            return
        except Exception:
            logger.exception("demo Odoo failed on %s", request.path)
            fault, response = None, html_error(500)
        self._send(response, cut=fault == "truncated")

    def _send(self, response: Response, cut: bool = False) -> None:
        """Send ``response``; ``cut``: only the headers and half the body, then close."""
        body = response.body[: len(response.body) // 2] if cut else response.body
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        if cut:
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)
