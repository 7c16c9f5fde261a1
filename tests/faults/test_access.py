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
from nkdash.settings import Secret
from nkdash.web.auth import SESSION_COOKIE
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
