"""Access: a realistic session — ``nkdash serve`` and a worker as real processes, queued and
command-line ETL runs, failing logins, an Odoo that fails and one that refuses a password —
then: without credentials no dashboard, no data, no operation (HTTP and WebSocket); a viewer
gets no operation page or API; and no credential or Odoo secret appears in anything written
or served (logs, lake, metadata, queue, state, process output, pages, notebook outputs).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from nkdash.demo import Faults, start_demo
from nkdash.jobs import requests as jobs_requests
from nkdash.jobs import worker as jobs_worker
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.notebooks import NOTEBOOKS_DIR
from nkdash.settings import Secret, Settings
from nkdash.web import endpoints
from nkdash.web.auth import SESSION_COOKIE
from nkdash.web.throttle import LoginThrottle
from tests.support.demo import DATES, TZ, demo_config, settings_for
from tests.support.lake import copy_lake
from tests.support.processes import child_env
from tests.support.web import running_nkdash

pytestmark = [pytest.mark.faults, pytest.mark.slow]

VIEWER_PW, OPERATOR_PW = "Viewer-Pw-q7Zx3141", "Operator-Pw-k2Yw2718"
ODOO_PW = "Odoo-Secret-zX81pQ"  # the real Odoo password of this session
WRONG_ODOO_PW = "Odoo-Typo-Secret-9931"  # a wrong one someone configured
WRONG_WEB_PW = "Guessed-Pw-5521xx"  # failed logins
REDIS_PW = "Redis-Secret-77aa"  # configured, unused (queue=sqlite)
OPERATIONS = ("/operational", "/recovery", "/runbook", "/monitoring")
DASHBOARDS = ("/sales", "/profit", "/inventory", "/purchases")
HTML = {"Accept": "text/html"}


@dataclasses.dataclass
class Session:
    url: str
    root: Path
    settings: object
    served: list[str] = dataclasses.field(default_factory=list)  # every body and frame we received
    outputs: list[str] = dataclasses.field(default_factory=list)  # every process output
    cookies: dict[str, str] = dataclasses.field(default_factory=dict)
    stop: object = None

    def http(self, method: str, path: str, role: str | None = None, **kwargs) -> requests.Response:
        headers = {
            **kwargs.pop("headers", {}),
            **({"Cookie": f"{SESSION_COOKIE}={self.cookies[role]}"} if role else {}),
        }
        r = requests.request(method, self.url + path, headers=headers, allow_redirects=False, timeout=30, **kwargs)
        headers = {k: v for k, v in r.headers.items() if k.lower() != "set-cookie"}  # a login's own cookie
        self.served.append(f"{r.status_code} {headers} {r.text}")
        return r

    def ws(self, path: str, role: str | None = None, listen: float = 0.0) -> int:
        """The handshake status (101: accepted); if accepted, ``listen`` seconds of frames are kept."""
        headers = {"Cookie": f"{SESSION_COOKIE}={self.cookies[role]}"} if role else {}
        try:
            with ws_connect(
                self.url.replace("http", "ws") + path, additional_headers=headers, open_timeout=20, max_size=None
            ) as socket:
                deadline, quiet = time.monotonic() + listen, None
                while time.monotonic() < deadline:
                    try:
                        frame = socket.recv(timeout=2)
                    except TimeoutError:
                        if quiet and time.monotonic() - quiet > 4:
                            break
                        quiet = quiet or time.monotonic()
                        continue
                    except ConnectionClosed:
                        break
                    quiet = None
                    self.served.append(frame if isinstance(frame, str) else frame.decode(errors="replace"))
                return 101
        except InvalidStatus as e:
            self.served.append(e.response.body.decode(errors="replace") if e.response.body else "")
            return e.response.status_code


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def request_states(settings, request_id: str) -> set[str]:
    try:
        return {s.state for s in jobs_requests.request_status(request_id, settings)}
    except Exception:  # noqa: BLE001 - not recorded yet
        return set()


@pytest.fixture
def session(loaded_lake, tmp_path):
    root = tmp_path / "access"
    odoo = start_demo(dataclasses.replace(demo_config(17), password=ODOO_PW, api_key=ODOO_PW))
    lake = copy_lake(loaded_lake(17).lake, root / "lake")
    settings = settings_for(
        odoo,
        lake,
        state_dir=root / "state",
        log_dir=root / "logs",
        tz=TZ,
        odoo_retries=2,
        odoo_backoff=0.01,
        odoo_timeout=5.0,
        viewer_password=Secret(VIEWER_PW),
        operator_password=Secret(OPERATOR_PW),
        redis_url=Secret(f"redis://:{REDIS_PW}@127.0.0.1:1/0"),
    ).with_(odoo_password=Secret(ODOO_PW))
    env = {k: v for k, v in child_env(settings).items() if k.startswith(("NKDASH_", "ODOO_"))}
    stack = ExitStack()
    server = stack.enter_context(
        running_nkdash(
            lake,
            root,
            passwords={"viewer": VIEWER_PW, "operator": OPERATOR_PW},
            show_tracebacks=False,
            **{
                k: v
                for k, v in env.items()
                if k
                not in (
                    "NKDASH_LAKE",
                    "NKDASH_STATE_DIR",
                    "NKDASH_LOG_DIR",
                    "NKDASH_VIEWER_PASSWORD",
                    "NKDASH_OPERATOR_PASSWORD",
                )
            },
        )
    )
    worker = jobs_worker.start_worker_process(settings, workers=2, periodic=False)
    s = Session(server.url, root, settings)
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        jobs_worker.stop_worker(worker, timeout=60)
        stack.close()  # SIGTERM to nkdash serve, exit code 0 asserted
        odoo.stop()
        s.outputs.extend(server.output)

    s.stop = stop
    try:
        # queued work: one request that succeeds, one against an Odoo failing every call
        ok_request = jobs_requests.enqueue_refresh("pos", DATES[0], DATES[1], settings)
        wait_for(lambda: request_states(settings, ok_request) == {"done"}, 120, "the async refresh")
        odoo.faults = Faults(error_rate=1.0, status=503)
        bad_request = jobs_requests.enqueue_refresh("invoices", DATES[0], DATES[0], settings)
        wait_for(lambda: request_states(settings, bad_request) == {"failed"}, 120, "the failing async refresh")
        odoo.faults = Faults()
        # the command line: a verbose refresh, a wrong Odoo password, settings, a check, a validation
        commands = [
            (["-v", "refresh", "purchases", "--date", str(DATES[0])], {}, 0),
            (["refresh", "pos", "--date", str(DATES[0])], {"ODOO_PASSWORD": WRONG_ODOO_PW}, 1),
            (["-v", "odoo-check"], {"ODOO_PASSWORD": WRONG_ODOO_PW}, 1),
            (["settings"], {}, 0),
            (["odoo-check"], {}, 0),
            (["validate", "--date", str(DATES[0])], {}, 0),
        ]

        def run(command):
            argv, extra, expected = command
            done = subprocess.run(
                [sys.executable, "-m", "nkdash", *argv],
                env=child_env(settings, **extra),
                cwd=root,
                capture_output=True,
                text=True,
                timeout=300,
            )
            s.outputs.append(done.stdout + done.stderr)
            assert done.returncode == expected, (argv, done.stdout, done.stderr)
            return done

        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(run, commands))
        assert "ODOO_USER and ODOO_PASSWORD" in results[1].stderr
        # web: failed logins, then good ones
        for user, password in (
            ("viewer", WRONG_WEB_PW),
            ("operator", WRONG_WEB_PW),
            (WRONG_WEB_PW, OPERATOR_PW),
            ("'; DROP TABLE users; --", WRONG_WEB_PW),
        ):
            assert s.http("POST", "/login", data={"username": user, "password": password}).status_code == 401
        assert s.http("GET", "/sales/", auth=("viewer", WRONG_WEB_PW)).status_code == 401
        for role, password in (("viewer", VIEWER_PW), ("operator", OPERATOR_PW)):
            response = s.http("POST", "/login", data={"username": role, "password": password, "next": "/"})
            assert response.status_code == 303
            s.cookies[role] = response.cookies[SESSION_COOKIE]
        yield s
    finally:
        stop()


# ----------------------------------------------------------------------------- access
def test_access_and_secrets_in_a_realistic_session(session, tally):
    """One test, so that the checks and the search for secrets share one session (and one
    worker, whatever the scheduling)."""
    anonymous_gets_nothing(session, tally)
    viewer_gets_no_operation(session, tally)
    no_secret_is_written_or_served(session, tally)


def anonymous_gets_nothing(s: Session, tally) -> None:
    for nb in (*DASHBOARDS, *OPERATIONS):
        page = s.http("GET", f"{nb}/", headers=HTML)
        assert page.status_code == 303 and page.headers["location"].startswith("/login"), nb
        for method, path in (
            ("GET", f"{nb}/"),
            ("GET", f"{nb}/api/status"),
            ("POST", f"{nb}/api/kernel/run"),
            ("POST", f"{nb}/api/kernel/instantiate"),
        ):
            response = s.http(method, path, json={})
            assert response.status_code == 401 and response.json() == {"error": "authentication required"}, path
        assert s.ws(f"{nb}/ws?session_id=s_anonymous") == 403, nb
        tally(cases=6)
    index = s.http("GET", "/", headers=HTML)
    assert index.status_code == 303
    health = s.http("GET", "/health")  # public: states and counts only
    assert health.status_code in (200, 503) and "revenue" not in health.text and str(s.root) not in health.text
    tally(cases=2)


def viewer_gets_no_operation(s: Session, tally) -> None:
    for nb in DASHBOARDS:
        assert s.http("GET", f"{nb}/", role="viewer").status_code == 200
        tally(cases=1)
    for nb in OPERATIONS:
        assert s.http("GET", f"{nb}/", role="viewer").status_code == 403
        assert s.http("GET", f"{nb}/", auth=("viewer", VIEWER_PW)).status_code == 403
        for method, path in (
            ("GET", f"{nb}/api/status"),
            ("POST", f"{nb}/api/kernel/run"),
            ("POST", f"{nb}/api/kernel/instantiate"),
        ):
            assert s.http(method, path, role="viewer", json={}).status_code == 403, path
        assert s.ws(f"{nb}/ws?session_id=s_viewer", role="viewer") == 403
        tally(cases=6)
    index = s.http("GET", "/", role="viewer").text
    assert "/sales/" in index and not any(nb in index for nb in OPERATIONS)
    # what the pages show, as a browser receives it: a dashboard (viewer), an operations page (operator)
    assert s.ws("/sales/ws?session_id=s_faults_viewer", role="viewer", listen=40) == 101
    assert s.http("GET", "/operational/", role="operator").status_code == 200
    assert s.ws("/operational/ws?session_id=s_faults_operator", role="operator", listen=40) == 101
    assert any("Operations" in frame for frame in s.served) and any("Sales" in frame for frame in s.served)
    tally(cases=3)


def no_secret_is_written_or_served(s: Session, tally) -> None:
    """Every file under the session's root (lake, metadata, queue, state, logs), every
    process's output, every response and WebSocket frame: no password, wrong password,
    Basic credential, session cookie or Redis secret, in any form we can think of."""
    s.stop()
    secrets = [VIEWER_PW, OPERATOR_PW, ODOO_PW, WRONG_ODOO_PW, WRONG_WEB_PW, REDIS_PW]
    secrets += [
        base64.b64encode(f"{u}:{p}".encode()).decode() for u, p in (("viewer", VIEWER_PW), ("viewer", WRONG_WEB_PW))
    ]
    secrets += [cookie.rsplit(":", 1)[-1] for cookie in s.cookies.values()]  # session signatures
    needles = [
        n
        for secret in secrets
        for n in {secret.encode(), json.dumps(secret)[1:-1].encode(), secret.encode("utf-16-le")}
    ]
    files = [p for p in s.root.rglob("*") if p.is_file()]
    written = {str(p): p.read_bytes() for p in files}
    sources = {
        **written,
        **{f"output {i}": o.encode() for i, o in enumerate(s.outputs)},
        **{f"served {i}": t.encode() for i, t in enumerate(s.served)},
    }
    leaks = [
        (where, needle.decode(errors="replace"))
        for where, data in sources.items()
        for needle in needles
        if needle in data
    ]
    assert not leaks, leaks[:10]
    logs = [p for p in files if "logs" in p.parts]
    assert {p.name for p in logs} >= {"access.log", "web.log", "consumer.log"}, logs
    assert any("failed login" in written[str(p)].decode(errors="replace") for p in logs)
    assert any(b"503" in written[str(p)] or b"server error" in written[str(p)] for p in logs)  # Odoo failed
    tally(
        cases=len(secrets),
        files_searched=len(files),
        bytes_searched=sum(map(len, sources.values())),
        frames_and_pages_searched=len(s.served),
    )


# ----------------------------------------------------------------------------- issue 19: logins, sessions, marimo's routes
def login_form(url: str, user: str, password: str) -> requests.Response:
    return requests.post(
        f"{url}/login", data={"username": user, "password": password, "next": "/"}, allow_redirects=False, timeout=30
    )


@pytest.fixture
def bare_server(tmp_path):
    """``nkdash serve`` on an empty lake (what is tested here does not need data)."""
    lake = tmp_path / "lake"
    MetaStore.for_lake(Lake(lake))
    with running_nkdash(lake, tmp_path / "serve", show_tracebacks=False) as server:
        yield server


def hammer(attempt, times: int) -> tuple[list[int], float]:
    """``attempt(i)``'s status codes, as fast as they come, and the seconds they took."""
    started = time.monotonic()
    return [attempt(i) for i in range(times)], time.monotonic() - started


def due(seconds: float) -> int:
    """How many of the delays 1, 2, 4... seconds can have passed in ``seconds`` (the one
    running included): the tries that may be checked beyond the free ones."""
    return int(math.log2(seconds + 1)) + 1


def test_failed_logins_are_throttled_per_user_and_per_address(bare_server, tally):
    """Wrong passwords as fast as possible, by the form and by HTTP Basic: after the first few
    (3 free failures, then a check each time a delay of 1, 2, 4... seconds has passed) each
    user name is refused (429, Retry-After) without its password being checked, the right
    password included; then the address itself, whatever name it tries. /health counts it
    all, naming no user."""
    url, pw = bare_server.url, bare_server.passwords
    form, took = hammer(lambda i: login_form(url, "viewer", f"wrong-{i}").status_code, 100)
    assert form[:4] == [401] * 4 and set(form) == {401, 429} and form.count(401) <= 4 + due(took), (form, took)
    refused = login_form(url, "viewer", pw["viewer"])
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "Too many failed logins" in refused.text and SESSION_COOKIE not in refused.cookies
    basic, took = hammer(
        lambda i: requests.get(f"{url}/sales/", auth=("operator", f"x{i}"), timeout=30).status_code, 100
    )
    assert basic[:4] == [401] * 4 and set(basic) == {401, 429} and basic.count(401) <= 4 + due(took), (basic, took)
    assert requests.get(f"{url}/sales/", auth=("operator", pw["operator"]), timeout=30).status_code == 429
    failed = form.count(401) + basic.count(401)  # every one from this address
    names = []
    while not names or names[-1] != 429:  # new user names, until the address must wait
        names.append(login_form(url, f"guess-{len(names)}", "x").status_code)
        assert len(names) <= 30, names
    assert names.count(401) <= max(0, 11 - failed) + 1, (failed, names)  # the address's 10 free failures
    assert login_form(url, "never-tried", "x").status_code == 429  # the address waits, whatever the name
    health = requests.get(f"{url}/health", timeout=30)
    logins = health.json()["logins"]
    refusals = form.count(429) + basic.count(429) + 2 + names.count(429) + 1
    assert logins["failed"] == failed + names.count(401) and logins["refused"] == refusals, logins
    assert logins["delayed"]["address"] == 1 and logins["accepted"] == 0, logins
    assert not any(name in health.text for name in ("viewer", "operator", "guess-", "127.0.0.1"))
    tally(cases=5, wrong_logins=len(form) + len(basic) + len(names) + 3)


def test_failed_logins_wait_longer_each_time_then_are_locked_out(serve_app, tmp_path, tally):
    """The served app on a clock the test moves (no test sleeps): 3 free failures, then waits
    of 1, 2, 4... seconds (a try before its time is refused unchecked), a 15-minute lockout at
    the 10th failure that refuses the right password too (form and Basic), a clean slate
    once it is over; /health and the throttle's report count it, naming nobody."""
    MetaStore.for_lake(Lake(tmp_path / "lake"))
    settings = Settings(
        lake=tmp_path / "lake",
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "logs",
        viewer_password=Secret(VIEWER_PW),
        operator_password=Secret(OPERATOR_PW),
    )
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    url = serve_app(settings, login_throttle=throttle)
    waits = []
    for attempt in range(1, 11):
        assert login_form(url, "viewer", f"wrong-{attempt}").status_code == 401, attempt
        early = login_form(url, "viewer", VIEWER_PW)
        if attempt <= 3:
            assert early.status_code == 303  # free failures: a success costs nothing (and forgives nothing)
            continue
        assert early.status_code == 429 and SESSION_COOKIE not in early.cookies
        waits.append(int(early.headers["retry-after"]))
        now[0] += waits[-1] if attempt < 10 else 0
    assert waits == [1, 2, 4, 8, 16, 32, 900], waits  # the 10th failure locks out for 15 minutes
    assert requests.get(f"{url}/sales/", auth=("viewer", VIEWER_PW), timeout=30).status_code == 429  # Basic too
    assert throttle.report()["locked_out"] == {"user": 1, "address": 0}
    now[0] += 900
    assert login_form(url, "viewer", VIEWER_PW).status_code == 303
    assert requests.get(f"{url}/sales/", auth=("operator", OPERATOR_PW), timeout=30).status_code == 200
    report = throttle.report()
    assert report["failed"] == 10 and report["lockouts"] == 1 and report["locked_out"] == {"user": 0, "address": 0}
    health = requests.get(f"{url}/health", timeout=30)
    assert health.json()["logins"]["lockouts"] == 1 and "viewer" not in health.text
    tally(cases=len(waits) + 4, wrong_logins=10)


def test_a_session_cookie_replayed_after_logout_is_refused(bare_server, tmp_path, tally):
    """After ``POST /logout`` the old cookie (a copy an attacker kept) gets nothing: pages
    redirect to the login, the API answers 401, the WebSocket 403, also after a restart;
    another session of the same role goes on."""
    url = bare_server.url
    cookie, other = (login_form(url, "viewer", bare_server.passwords["viewer"]).cookies[SESSION_COOKIE] for _ in "ab")
    jar = {SESSION_COOKIE: cookie}
    assert requests.get(f"{url}/sales/", cookies=jar, timeout=30).status_code == 200
    out = requests.post(f"{url}/logout", cookies=jar, allow_redirects=False, timeout=30)
    assert out.status_code == 303
    page = requests.get(f"{url}/sales/", cookies=jar, headers=HTML, allow_redirects=False, timeout=30)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert requests.get(f"{url}/sales/api/status", cookies=jar, timeout=30).status_code == 401
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(
            url.replace("http", "ws") + "/sales/ws?session_id=s_replay",
            additional_headers={"Cookie": f"{SESSION_COOKIE}={cookie}"},
            open_timeout=20,
        )
    assert refused.value.response.status_code == 403
    assert requests.get(f"{url}/", cookies={SESSION_COOKIE: other}, timeout=30).status_code == 200
    bare_server.stop()
    lake = tmp_path / "lake"
    with running_nkdash(lake, tmp_path / "serve", show_tracebacks=False) as again:  # same state: a restart
        assert (
            requests.get(f"{again.url}/", cookies=jar, headers=HTML, allow_redirects=False, timeout=30).status_code
            == 303
        )
        assert requests.get(f"{again.url}/", cookies={SESSION_COOKIE: other}, timeout=30).status_code == 200
    tally(cases=6)


def marimo_table() -> list:
    """marimo's route table for one notebook, as the served app walks it."""
    import marimo
    from starlette.routing import Mount

    app = marimo.create_asgi_app(quiet=True).with_app(path="/sales", root=str(NOTEBOOKS_DIR / "sales.py")).build()
    (mounted,) = [r.app for r in app.routes if isinstance(r, Mount)]
    table = endpoints.walk(mounted.routes)  # marimo adds its global routers again with each app built:
    return [e for i, e in enumerate(table) if (e.template, e.kind) not in {(f.template, f.kind) for f in table[:i]}]


def sample(template: str) -> str:
    """A concrete path for a route template ({name} and {name:path} filled)."""
    return re.sub(r"\{[^}]+\}", "x", template)


def test_every_marimo_route_is_allowed_with_a_reason_or_refused_for_everyone(bare_server, tally):
    """Walk marimo's route table: a route a page needs is in the allow-list with its reason;
    every other one (a route a new marimo adds included) answers the gate's 404 to a viewer
    and to an operator, on a dashboard and on an operations page. Unknown virtual files and
    kernel sessions answer a clean 404/400, and web.log holds no traceback."""
    url, pw = bare_server.url, bare_server.passwords
    table = marimo_table()
    assert {e.template for e in table} >= set(endpoints.ALLOWED)  # what pages use is still there
    assert all(entry.reason for entry in endpoints.ALLOWED.values())
    refused = 0
    for endpoint in table:
        path = sample(endpoint.template)
        for role, notebooks in (("viewer", ("/sales",)), ("operator", ("/sales", "/operational"))):
            for nb in notebooks:
                if endpoint.kind == "websocket":
                    if endpoint.template in endpoints.ALLOWED:
                        continue  # the page's own session: the browser tests open it
                    try:
                        with ws_connect(
                            url.replace("http", "ws") + nb + path,
                            additional_headers={"Authorization": basic_header(role, pw[role])},
                            open_timeout=20,
                        ):
                            status = 101
                    except InvalidStatus as e:
                        status = e.response.status_code
                    assert status == 403, (role, nb, path)
                    refused += 1
                    continue
                for method in sorted(endpoint.methods - {"HEAD"}):
                    r = requests.request(method, url + nb + path, auth=(role, pw[role]), json={}, timeout=30)
                    gate_404 = (
                        r.status_code == 404
                        and r.headers.get("content-type", "").startswith("application/json")
                        and r.json() == {"error": "not found"}
                    )
                    if endpoint.template in endpoints.ALLOWED and (endpoint.template != "/{path:path}"):
                        assert not gate_404, (role, nb, method, path)
                    else:
                        assert gate_404, (role, nb, method, path, r.status_code, r.text[:200])
                        refused += 1
    viewer = ("viewer", pw["viewer"])
    leaks = {
        "/sales/api/home/workspace_files": "POST",
        "/sales/api/version": "GET",
        "/sales/api/status/connections": "GET",
        "/sales/api/export/availability": "GET",
        "/sales/og/thumbnail": "GET",
        "/sales/healthz": "GET",
    }
    for path, method in leaks.items():
        r = requests.request(method, url + path, auth=viewer, json={}, timeout=30)
        assert r.status_code == 404 and str(NOTEBOOKS_DIR) not in r.text and marimo_version() not in r.text, path
    for path in ("/sales/@file/10-x.txt", "/sales/@file/2048-../../etc/passwd", "/sales/@file/x"):
        r = requests.get(url + path, auth=viewer, timeout=30)  # a clean answer: headers and body
        assert r.status_code == 404 and r.json() == {"error": "no such file"}, path
    for session, status in ((None, 400), ("bogus", 404), ("s_abcdef", 404)):
        headers = {"Marimo-Session-Id": session} if session else {}
        body = {"objectIds": ["x"], "values": [1]}
        r = requests.post(
            f"{url}/sales/api/kernel/set_ui_element_value", auth=viewer, json=body, headers=headers, timeout=30
        )
        assert r.status_code == status, (session, r.text)
    assert requests.get(f"{url}/sales/favicon.ico", timeout=30).status_code == 200
    assert requests.get(f"{url}/sales", auth=viewer, allow_redirects=False, timeout=30).status_code in (301, 307)
    log = "\n".join(bare_server.web_log())
    assert "Traceback" not in log and "Exception in ASGI" not in log and "Valid sessions ids" not in log, log[-3000:]
    tally(cases=refused + len(leaks) + 6, marimo_routes=len(table))


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def marimo_version() -> str:
    import marimo

    return marimo.__version__
