"""nkdash.web and nkdash.health: access control, login, /health, logs — on a real uvicorn."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from nkdash.errors import ConfigError
from nkdash.jobs import backend
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.ops.health import check_health, queue_status
from nkdash.settings import Secret, Settings
from nkdash.web.app import build_app, listen, serve
from nkdash.web.auth import SESSION_COOKIE, Auth, User
from nkdash.web.frontend import FrontEndFiles, marimo_assets
from nkdash.web.throttle import LoginThrottle, Policy
from tests.support.processes import REPO

VIEWER_PW, OPERATOR_PW = "view-Secret-7q2", "oper-Secret-9x4"
DATED = ("pos", "invoices", "purchases", "inventory", "stock-quants", "profit")
HTML = {"Accept": "text/html"}


def yesterday() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def load_meta(lake: Path, last: dt.date, datasets=DATED) -> None:
    """Record ``datasets`` as loaded up to ``last`` (no files: a lake the scan finds clean)."""
    meta = MetaStore.for_lake(Lake(lake))
    for name in datasets:
        meta.set_partition(name, last, status="loaded", rows=1)


@pytest.fixture
def web_settings(tmp_path) -> Settings:
    """Both roles enabled, a lake fresh up to yesterday, private state and log dirs."""
    load_meta(tmp_path / "lake", yesterday())
    return Settings(
        lake=tmp_path / "lake",
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "logs",
        viewer_password=Secret(VIEWER_PW),
        operator_password=Secret(OPERATOR_PW),
    )


def get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, allow_redirects=False, timeout=10, **kwargs)


def login(url: str, username: str, password: str, next_: str = "/") -> requests.Response:
    return requests.post(
        f"{url}/login",
        data={"username": username, "password": password, "next": next_},
        allow_redirects=False,
        timeout=10,
    )


def ws_status(url: str, path: str, headers: dict[str, str] | None = None) -> int:
    """The HTTP status of a WebSocket handshake (101 when accepted)."""
    try:
        with ws_connect(url.replace("http", "ws") + path, additional_headers=headers or {}, open_timeout=10):
            return 101
    except InvalidStatus as e:
        return e.response.status_code


# ----------------------------------------------------------------------------- /health


def test_health_ok_on_a_fresh_lake(serve_app, web_settings):
    response = get(f"{serve_app(web_settings)}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["metadata"] == {"ok": True}
    assert body["lake"]["readable"] and body["lake"]["status"] == "ok" and body["lake"]["problems"] == []
    assert set(body["lake"]["datasets"]) == set(DATED)
    assert body["lake"]["datasets"]["pos"] == {
        "last_loaded": yesterday().isoformat(),
        "lag_days": 1,
        "status": "ok",
        "missing": 0,
        "failed": 0,
        "stale": 0,
        "not_reconciled": [],
        "archived_before": None,
    }
    assert body["lake"]["archive"] == {
        "before": None,
        "keep_from": body["lake"]["archive"]["keep_from"],
        "inside_retention": False,
    }
    assert body["queue"] == {"backend": "sqlite", "ok": None, "status": "unknown", "pending": None}


def test_health_503_when_metadata_store_unreadable(serve_app, web_settings):
    meta_file = web_settings.lake / "_meta" / "nkdash.sqlite"
    for leftover in (meta_file, meta_file.with_name("nkdash.sqlite-wal"), meta_file.with_name("nkdash.sqlite-shm")):
        leftover.unlink(missing_ok=True)  # a damaged store: its write-ahead log gone with it
    meta_file.write_bytes(b"not a database" * 100)
    response = get(f"{serve_app(web_settings)}/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail" and body["metadata"]["ok"] is False and body["lake"]["status"] == "unknown"


def test_health_503_when_a_dataset_is_critical(serve_app, web_settings):
    meta = MetaStore.for_lake(Lake(web_settings.lake))
    meta.set_partition("profit", yesterday() - dt.timedelta(days=4), status="loaded")
    meta.set_partition("profit", yesterday(), status="quarantined")  # last loaded: 5 days ago
    response = get(f"{serve_app(web_settings)}/health")
    assert response.status_code == 503
    assert response.json()["lake"]["datasets"]["profit"]["status"] == "critical"


def test_health_degraded_but_200_when_late(web_settings):
    meta = MetaStore.for_lake(Lake(web_settings.lake))
    meta.set_partition("pos", yesterday(), status="quarantined")
    meta.set_partition("pos", yesterday() - dt.timedelta(days=1), status="loaded")
    health = check_health(web_settings)
    assert health.status == "degraded" and health.ok and health.lake["datasets"]["pos"]["status"] == "late"


def test_health_degraded_but_200_with_leftovers_of_a_write(web_settings):
    (web_settings.lake / "_staging" / "fact_sales" / "2024-03-01.new-00000000000000000001-1-abcdef12").mkdir(
        parents=True
    )
    health = check_health(web_settings)
    assert health.status == "degraded" and health.lake["problems"] == [
        {"table": "fact_sales", "date": None, "kind": "temp"}
    ]


def test_health_503_when_a_partition_is_corrupt(serve_app, web_settings):
    lake = Lake(web_settings.lake)
    table = pa.table({"date": pa.array([yesterday()], pa.date32()), "qty": [1.0]})
    info = lake.write_partition("fact_purchases", yesterday(), table)
    info.path.write_bytes(info.path.read_bytes()[:40])  # truncated
    body = get(f"{serve_app(web_settings)}/health").json()
    assert body["status"] == "fail"
    assert body["lake"]["problems"] == [
        {"table": "fact_purchases", "date": yesterday().isoformat(), "kind": "unreadable"}
    ]


def test_health_503_when_the_lake_is_missing(web_settings, tmp_path):
    health = check_health(web_settings.with_(lake=tmp_path / "nowhere"))
    assert health.status == "fail" and health.lake["readable"] is False


def test_health_shows_no_business_figures(web_settings):
    text = str(check_health(web_settings).to_dict())
    for word in ("rows", "revenue", "amount", "margin", "cost", "path"):
        assert word not in text


def test_queue_status_sqlite(web_settings):
    path = backend.sqlite_path(web_settings)
    assert queue_status(web_settings)["status"] == "unknown"
    storage = backend.huey_for(web_settings).storage
    for _ in range(3):
        storage.enqueue(b"\x00", 0)
    assert path.exists()
    assert queue_status(web_settings) == {"backend": "sqlite", "ok": True, "status": "ok", "pending": 3}
    path.write_bytes(b"garbage" * 200)
    assert queue_status(web_settings)["ok"] is False
    assert check_health(web_settings).status == "fail"


def test_queue_status_redis_unreachable_never_shows_the_url(web_settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    status = queue_status(web_settings.with_(queue="redis", redis_url=Secret(f"redis://:pw-r3dis@127.0.0.1:{port}/0")))
    assert status["ok"] is False and "pw-r3dis" not in str(status) and str(port) not in str(status)


# ----------------------------------------------------------------------------- access

NOTEBOOK_PATHS = [
    "/",
    "/sales/",
    "/sales",
    "/operational/",
    "/sales/api/status",
    "/sales/health",
    "/sales/public-files-sw.js",
    "/sales/@file/1-x.txt",
    "/sales/api/kernel/instantiate",
    "/operational/api/kernel/run",
    "/no/such/page",
]


@pytest.mark.parametrize("path", NOTEBOOK_PATHS)
def test_without_credentials_no_page_and_no_data(serve_app, web_settings, path):
    url = serve_app(web_settings)
    page = get(url + path, headers=HTML)
    assert page.status_code == 303 and page.headers["location"] == f"/login?next={quote(path)}"
    api = get(url + path)
    assert api.status_code == 401 and api.json() == {"error": "authentication required"}
    assert api.headers["www-authenticate"].startswith("Basic")
    post = requests.post(url + path, json={}, allow_redirects=False, timeout=10)
    assert post.status_code == 401 and "placeholder" not in post.text


@pytest.mark.parametrize("path", ["/sales/ws?session_id=s_x", "/operational/ws?session_id=s_x"])
def test_websocket_without_credentials_refused(serve_app, web_settings, path):
    assert ws_status(serve_app(web_settings), path) == 403


def test_marimo_frontend_files_are_public(serve_app, web_settings):
    url = serve_app(web_settings)
    assert get(f"{url}/sales/manifest.json").status_code == 200
    index = get(f"{url}/sales/", auth=("viewer", VIEWER_PW)).text
    asset = index.split('src="./assets/')[1].split('"')[0]
    assert get(f"{url}/sales/assets/{asset}").status_code == 200
    assert requests.post(f"{url}/sales/assets/{asset}", timeout=10).status_code == 401


def test_frontend_files_are_served_compressed_cached_and_only_from_marimos_directory(serve_app, web_settings):
    """The gate's process serves marimo's front-end files: the wheel's very bytes, gzipped
    when the browser accepts it, immutable with an ETag (a 304 for a cached copy); a name
    outside marimo's assets directory or unknown is a 404."""
    url = serve_app(web_settings)
    index = get(f"{url}/sales/", auth=("viewer", VIEWER_PW)).text
    asset = index.split('src="./assets/')[1].split('"')[0]
    wheel = (marimo_assets() / asset).read_bytes()
    raw = requests.get(f"{url}/sales/assets/{asset}", headers={"Accept-Encoding": "identity"}, stream=True, timeout=10)
    assert raw.headers.get("content-encoding") is None and raw.raw.read() == wheel
    zipped = requests.get(f"{url}/sales/assets/{asset}", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=10)
    body = zipped.raw.read()
    assert zipped.headers["content-encoding"] == "gzip" and len(body) < len(wheel) / 2
    assert gzip.decompress(body) == wheel
    assert "immutable" in zipped.headers["cache-control"] and "javascript" in zipped.headers["content-type"]
    again = get(f"{url}/sales/assets/{asset}", headers={"If-None-Match": zipped.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = requests.head(f"{url}/sales/assets/{asset}", timeout=10)
    assert head.status_code == 200 and head.content == b""
    held = FrontEndFiles()
    assert held.load(asset) is held.load(asset)  # read and compressed once, then held
    for name in ("no-such-file.js", "..%2F__init__.py", "%2E%2E%2Findex.html", ".hidden"):
        assert get(f"{url}/sales/assets/{name}").status_code == 404, name


def test_the_listening_socket_turns_nagle_off_on_each_connection():
    """``listen`` makes a TCP socket asyncio knows as TCP: each accepted connection gets
    TCP_NODELAY, so an answer written in two parts (headers, body) is not held ~40 ms for
    the client's delayed ACK (``socket.create_server``'s sockets did not get it)."""
    import asyncio

    sock = listen("127.0.0.1", 0)
    seen: list[int] = []

    async def main() -> None:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        async with server:
            reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            await reader.read()
            writer.close()

    # in a thread of its own: a browser test of this worker may hold an event loop in this one
    runner = threading.Thread(target=asyncio.run, args=(main(),))
    runner.start()
    runner.join(30)
    assert seen and seen[0] != 0


def test_viewer_opens_dashboards_not_operations(serve_app, web_settings):
    url = serve_app(web_settings)
    viewer = ("viewer", VIEWER_PW)
    assert get(f"{url}/sales/", auth=viewer).status_code == 200
    assert get(f"{url}/operational/", auth=viewer).status_code == 403
    assert get(f"{url}/operational/api/status", auth=viewer).status_code == 403
    cookie = login(url, "viewer", VIEWER_PW).cookies[SESSION_COOKIE]
    assert ws_status(url, "/operational/ws?session_id=s_v", {"Cookie": f"{SESSION_COOKIE}={cookie}"}) == 403
    index = get(f"{url}/", cookies={SESSION_COOKIE: cookie}).text
    assert 'href="/sales/"' in index and "/operational" not in index


@pytest.mark.parametrize(
    "path",
    [
        "//operational/",
        "/./operational/",
        "/sales/../operational/",
        "/%2Foperational/",
        "/operational%2F",
        "//operational/api/status",
    ],
)
def test_odd_paths_never_reach_an_operator_notebook(serve_app, web_settings, path):
    url = serve_app(web_settings)
    credentials = base64.b64encode(f"viewer:{VIEWER_PW}".encode()).decode()
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as s:  # the path as sent
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {credentials}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        status_line = s.makefile("rb").readline()
    assert status_line.split()[1] in (b"403", b"404")


def test_operator_opens_everything(serve_app, web_settings):
    url = serve_app(web_settings)
    operator = ("operator", OPERATOR_PW)
    for path in ("/", "/sales/", "/operational/"):
        assert get(url + path, auth=operator).status_code == 200
    index = get(f"{url}/", auth=operator).text
    assert 'href="/sales/"' in index and 'href="/operational/"' in index


@pytest.mark.parametrize(
    "username,password",
    [
        ("viewer", OPERATOR_PW),
        ("operator", VIEWER_PW),
        ("viewer", ""),
        ("nobody", VIEWER_PW),
        ("viewer", VIEWER_PW + "x"),
    ],
)
def test_wrong_credentials_refused(serve_app, web_settings, username, password):
    url = serve_app(web_settings)
    assert get(f"{url}/sales/", auth=(username, password), headers=HTML).status_code == 401
    response = login(url, username, password)
    assert response.status_code == 401 and SESSION_COOKIE not in response.cookies
    assert "Wrong user name or password" in response.text


def test_disabled_role_cannot_log_in(serve_app, web_settings):
    url = serve_app(web_settings.with_(operator_password=Secret("")))
    assert get(f"{url}/sales/", auth=("operator", "")).status_code == 401
    assert get(f"{url}/sales/", auth=("viewer", VIEWER_PW)).status_code == 200


def test_login_and_logout(serve_app, web_settings):
    url = serve_app(web_settings)
    assert "<form" in get(f"{url}/login?next=/sales/").text
    session = requests.Session()
    response = session.post(
        f"{url}/login", data={"username": "viewer", "password": VIEWER_PW, "next": "/sales/"}, allow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/sales/"
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "max-age=43200" in set_cookie
    assert session.get(f"{url}/sales/", allow_redirects=False).status_code == 200
    assert "viewer (viewer)" in session.get(f"{url}/").text
    out = session.post(f"{url}/logout", allow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert not session.cookies.get(SESSION_COOKIE)
    assert session.get(f"{url}/", allow_redirects=False, headers=HTML).status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", ""])
def test_login_never_redirects_off_site(serve_app, web_settings, target):
    assert login(serve_app(web_settings), "viewer", VIEWER_PW, next_=target).headers["location"] == "/"


def test_cross_origin_writes_and_websockets_refused(serve_app, web_settings):
    url = serve_app(web_settings)
    evil = {"Origin": "http://evil.example"}
    response = requests.post(
        f"{url}/login",
        data={"username": "viewer", "password": VIEWER_PW},
        headers=evil,
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 403 and SESSION_COOKIE not in response.cookies
    cookie = login(url, "operator", OPERATOR_PW).cookies[SESSION_COOKIE]
    assert ws_status(url, "/sales/ws?session_id=s_e", {"Cookie": f"{SESSION_COOKIE}={cookie}", **evil}) == 403
    same = {"Origin": url}
    assert login(url, "viewer", VIEWER_PW).status_code == 303
    assert (
        requests.post(
            f"{url}/login",
            data={"username": "viewer", "password": VIEWER_PW},
            headers=same,
            allow_redirects=False,
            timeout=10,
        ).status_code
        == 303
    )


def test_tampered_and_expired_cookies_refused(web_settings):
    auth = Auth(web_settings, b"k" * 32)
    token = auth.issue(User("viewer", "viewer"))
    assert auth.verify(token) == User("viewer", "viewer")
    _role, expires, session, signature = token.split(":")
    assert auth.verify(f"operator:{expires}:{session}:{signature}") is None
    assert auth.verify(f"viewer:{int(expires) + 999}:{session}:{signature}") is None
    assert auth.verify(f"viewer:{expires}:{session[::-1]}:{signature}") is None
    assert auth.verify(f"viewer:{expires}:{signature}") is None  # the format before session ids
    assert auth.verify(token, now=int(expires) + 1) is None
    assert auth.verify("garbage") is None and auth.verify("") is None


def test_logout_revokes_the_session_on_the_server(web_settings, tmp_path):
    from nkdash.web.auth import revocations

    auth = Auth(web_settings, b"k" * 32, revocations(tmp_path))
    token, other = auth.issue(User("viewer", "viewer")), auth.issue(User("viewer", "viewer"))
    assert auth.revoke(token) and auth.verify(token) is None
    assert auth.verify(other) == User("viewer", "viewer")  # the same role's other sessions go on
    assert not auth.revoke("garbage")
    restarted = Auth(web_settings, b"k" * 32, revocations(tmp_path))
    assert restarted.verify(token) is None and restarted.verify(other) == User("viewer", "viewer")


def test_sessions_survive_restarts_not_password_changes(web_settings):
    token = Auth(web_settings, b"k" * 32).issue(User("operator", "operator"))
    assert Auth(web_settings, b"k" * 32).verify(token) == User("operator", "operator")
    assert Auth(web_settings, b"j" * 32).verify(token) is None
    assert Auth(web_settings.with_(operator_password=Secret("new")), b"k" * 32).verify(token) is None
    assert Auth(web_settings.with_(operator_password=Secret("")), b"k" * 32).verify(token) is None


def test_session_key_is_private_and_kept(serve_app, web_settings):
    url = serve_app(web_settings)
    key = web_settings.state_dir / "web-session.key"
    assert key.stat().st_mode & 0o777 == 0o600
    cookie = login(url, "viewer", VIEWER_PW).cookies[SESSION_COOKIE]
    url2 = serve_app(web_settings)  # a restart: same key file, same sessions
    assert get(f"{url2}/", cookies={SESSION_COOKIE: cookie}).status_code == 200


def test_basic_auth_header_parsing(web_settings):
    auth = Auth(web_settings, b"k" * 32)
    encode = lambda text: "Basic " + base64.b64encode(text.encode()).decode()  # noqa: E731
    assert auth.basic(encode(f"operator:{OPERATOR_PW}")) == User("operator", "operator")
    assert auth.basic(encode(f"viewer{VIEWER_PW}")) is None
    assert auth.basic("Basic !!!") is None and auth.basic(f"Bearer {VIEWER_PW}") is None


def test_the_gate_tells_notebooks_who_asks_and_nothing_a_request_says_about_itself(web_settings):
    """``scope["user"]`` (what marimo hands a notebook as ``mo.app_meta().request.user``) comes
    from the request's credentials only: a viewer claiming to be an operator stays a viewer."""
    import asyncio
    import concurrent.futures

    from nkdash.notebooks import NOTEBOOKS
    from nkdash.web.gate import Gate

    seen = []

    async def app(scope, receive, send):
        seen.append(scope["user"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    auth = Auth(web_settings, b"k" * 32)
    cookie = auth.issue(User("viewer", "viewer"))

    async def call(headers):
        scope = {"type": "http", "method": "GET", "path": "/sales", "headers": headers, "user": {"role": "operator"}}

        async def receive():
            return {"type": "http.request"}

        async def send(message):
            pass

        await Gate(app, auth, list(NOTEBOOKS))(scope, receive, send)

    forged = [(b"cookie", f"{SESSION_COOKIE}={cookie}".encode()), (b"x-role", b"operator"), (b"user", b"operator")]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop of its own: another test's may run here
        pool.submit(asyncio.run, call(forged)).result()
    assert seen == [{"username": "viewer", "role": "viewer", "is_authenticated": True}]


# ----------------------------------------------------------------------------- refusing to start


def test_no_password_refuses_to_start(web_settings, notebooks_dir):
    bare = web_settings.with_(viewer_password=Secret(""), operator_password=Secret(""))
    with pytest.raises(ConfigError, match="NKDASH_VIEWER_PASSWORD/NKDASH_OPERATOR_PASSWORD"):
        build_app(bare, notebooks_dir)
    assert not (bare.state_dir / "web-session.key").exists()


def test_no_auth_only_on_loopback(web_settings):
    with pytest.raises(ConfigError, match="--no-auth"):
        serve(web_settings, host="0.0.0.0", no_auth=True)


def test_no_auth_makes_everyone_an_operator(serve_app, web_settings):
    url = serve_app(web_settings.with_(viewer_password=Secret(""), operator_password=Secret("")), no_auth=True)
    assert get(f"{url}/operational/").status_code == 200
    assert "local (operator)" in get(f"{url}/").text


def test_serve_command_without_password_exits_2(tmp_path):
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "nkdash", "serve", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "nkdash: error: NKDASH_VIEWER_PASSWORD/NKDASH_OPERATOR_PASSWORD: no web password is set; "
        "set one in .env (or pass --no-auth for local use only)"
    ]


# ----------------------------------------------------------------------------- logs


def test_access_log_and_no_secret_in_logs(serve_app, web_settings):
    url = serve_app(web_settings)
    cookie = login(url, "viewer", VIEWER_PW).cookies[SESSION_COOKIE]
    login(url, "operator", VIEWER_PW)  # a failed login
    login(url, VIEWER_PW, OPERATOR_PW)  # a password typed as the user name
    get(f"{url}/sales/", auth=("operator", OPERATOR_PW))
    get(f"{url}/sales/", auth=("viewer", "wrong-" + VIEWER_PW))
    get(f"{url}/?password={OPERATOR_PW}", cookies={SESSION_COOKIE: cookie})
    ws_status(url, f"/sales/ws?session_id=s_l&access_token={OPERATOR_PW}")
    log_file = web_settings.log_dir / "web" / "access.log"
    for _ in range(50):  # the server writes the line just after the client saw the answer
        if " WS " in (access := log_file.read_text()):
            break
        time.sleep(0.05)
    app_log = (web_settings.log_dir / "web" / "web.log").read_text()
    basic = base64.b64encode(f"operator:{OPERATOR_PW}".encode()).decode()
    for secret in (VIEWER_PW, OPERATOR_PW, cookie, cookie.split(":")[-1], basic):
        assert secret not in access and secret not in app_log
    lines = access.splitlines()
    assert any(
        line.endswith(" GET /sales/ 200 " + line.split()[-1]) and " operator operator " in line for line in lines
    )
    assert any(" viewer viewer GET / 200 " in line for line in lines)
    assert any(" - - WS /sales/ws 403 " in line for line in lines)
    assert any(" - - POST /login 401 " in line for line in lines)
    assert "failed login" in app_log


# ----------------------------------------------------------------------------- login throttling


def test_an_address_is_throttled_whatever_user_name_it_tries():
    now = [0.0]
    throttle = LoginThrottle(address=Policy(free=2, lockout_after=4), clock=lambda: now[0])
    for name in ("a", "b", "c"):
        assert throttle.wait(name, "10.0.0.1") == 0
        throttle.failed(name, "10.0.0.1")
    assert throttle.wait("d", "10.0.0.1") == 1.0 and throttle.wait("d", "10.0.0.2") == 0
    now[0] += 1
    throttle.failed("d", "10.0.0.1")  # the 4th: locked out
    assert throttle.wait("e", "10.0.0.1") == 900 and throttle.report()["locked_out"]["address"] == 1
    now[0] += 901 + 900  # over, and forgotten
    assert throttle.wait("e", "10.0.0.1") == 0
    throttle.failed("e", "10.0.0.1")
    assert throttle.wait("f", "10.0.0.1") == 0
