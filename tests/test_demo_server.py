"""The demo Odoo over real HTTP on 127.0.0.1: XML-RPC, JSON-RPC, JSON-2, sessions, faults."""

import random
import time
import xmlrpc.client

import odoorpc
import pytest
import requests

from nkdash.demo import DemoServer, Faults
from nkdash.demo.schema import define_models
from nkdash.demo.store import Database, User
from tests.support.shop import shop_db

VERSIONS = (16, 17, 18, 19)


@pytest.fixture(scope="module", params=VERSIONS)
def shop_server(request):
    """The shop served over HTTP, per version (read only)."""
    with DemoServer(shop_db(request.param)) as srv:
        yield srv


@pytest.fixture(scope="module")
def server19():
    with DemoServer(shop_db(19)) as srv:
        yield srv


@pytest.fixture
def fresh():
    """A server of its own, for tests that change faults or take it down."""
    with DemoServer(shop_db(17)) as srv:
        yield srv


def xmlrpc_proxy(srv, service):
    return xmlrpc.client.ServerProxy(f"{srv.url}/xmlrpc/2/{service}", allow_none=True)


def jsonrpc(srv, service, method, *args, timeout=5):
    payload = {
        "jsonrpc": "2.0",
        "method": "call",
        "id": 42,
        "params": {"service": service, "method": method, "args": list(args)},
    }
    response = requests.post(f"{srv.url}/jsonrpc", json=payload, timeout=timeout)
    assert response.status_code == 200 and response.json()["id"] == 42
    return response.json()


def json2(srv, model, method, body=None, *, key="demo-api-key", db="demo", timeout=5):
    headers = {"X-Odoo-Database": db} if db else {}
    if key:
        headers["Authorization"] = f"bearer {key}"
    return requests.post(f"{srv.url}/json/2/{model}/{method}", json=body, headers=headers, timeout=timeout)


# ---------------------------------------------------------------- versions
def test_version_endpoints(shop_server):
    version = shop_server.db.version
    assert requests.get(f"{shop_server.url}/web/version").json() == {
        "version": f"{version}.0",
        "version_info": [version, 0, 0, "final", 0, ""],
    }
    info = requests.post(f"{shop_server.url}/web/webclient/version_info", json={"jsonrpc": "2.0", "params": {}}).json()
    assert info["result"]["server_version_info"][0] == version
    assert xmlrpc_proxy(shop_server, "common").version()["server_serie"] == f"{version}.0"
    assert jsonrpc(shop_server, "common", "version")["result"]["server_version"] == f"{version}.0"
    assert xmlrpc_proxy(shop_server, "db").list() == ["demo"]
    assert requests.post(f"{shop_server.url}/web/database/list", json={"params": {}}).json()["result"] == ["demo"]


def test_unknown_routes_are_html_404(shop_server):
    for method, path in [("GET", "/nope"), ("GET", "/jsonrpc"), ("POST", "/web/nope")]:
        response = requests.request(method, f"{shop_server.url}{path}")
        assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")


# ---------------------------------------------------------------- XML-RPC
def test_xmlrpc_login_search_read_and_group(shop_server):
    common, obj = xmlrpc_proxy(shop_server, "common"), xmlrpc_proxy(shop_server, "object")
    uid = common.authenticate("demo", "admin", "admin", {})
    assert uid == 2 and common.login("demo", "admin", "admin") == 2
    assert common.authenticate("demo", "admin", "wrong", {}) is False
    rows = obj.execute_kw(
        "demo",
        uid,
        "admin",
        "pos.order",
        "search_read",
        [[("id", "<", 3)]],
        {"fields": ["partner_id", "date_order"], "order": "id"},
    )
    assert rows == [
        {"id": 1, "partner_id": [2, "Brandon Freeman"], "date_order": "2024-03-01 09:15:00"},
        {"id": 2, "partner_id": False, "date_order": "2024-03-01 22:30:00"},
    ]
    assert obj.execute("demo", uid, "admin", "pos.order", "search", [("state", "=", "paid")]) == [1, 5]
    groups = obj.execute_kw(
        "demo", uid, "admin", "pos.order", "read_group", [[], ["amount_total:sum"], ["date_order:day"]], {"lazy": False}
    )
    assert groups[0]["__count"] == 3 and groups[0]["__domain"][0] == "&"


@pytest.mark.parametrize(
    "db,uid,password,model,method,args,code,text",
    [
        ("demo", 2, "wrong", "pos.order", "search", [[]], 3, "Access Denied"),
        ("demo", 7, "clerk-pw", "pos.order", "search", [[]], 4, "You are not allowed to access"),
        ("demo", 2, "admin", "pos.order", "_read", [[1]], 4, "Private methods"),
        ("demo", 2, "admin", "nope.model", "search", [[]], 2, "Object nope.model doesn't exist"),
        (
            "demo",
            2,
            "admin",
            "pos.order",
            "search",
            [[("nope", "=", 1)]],
            1,
            "ValueError: Invalid field 'nope' on model 'pos.order'",
        ),
        ("demo", 2, "admin", "pos.order", "fly", [], 1, "AttributeError: The method 'pos.order.fly' does not exist"),
        (
            "nope",
            2,
            "admin",
            "pos.order",
            "search",
            [[]],
            1,
            'psycopg2.OperationalError: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
            'FATAL:  database "nope" does not exist',
        ),
        ("demo", 2, "admin", "pos.order", "write", [[999], {"name": "x"}], 2, "Record does not exist"),
    ],
)
def test_xmlrpc_faults(shop_server, db, uid, password, model, method, args, code, text):
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc_proxy(shop_server, "object").execute_kw(db, uid, password, model, method, args, {})
    assert fault.value.faultCode == code and text in fault.value.faultString
    if code == 1:
        assert fault.value.faultString.startswith("Traceback (most recent call last):")


def test_xmlrpc_unknown_database_on_authenticate(shop_server):
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc_proxy(shop_server, "common").authenticate("nope", "admin", "admin", {})
    assert fault.value.faultCode == 1 and 'database "nope" does not exist' in fault.value.faultString


# ---------------------------------------------------------------- JSON-RPC
def test_jsonrpc_calls(shop_server):
    assert jsonrpc(shop_server, "common", "authenticate", "demo", "admin", "admin", {})["result"] == 2
    assert jsonrpc(shop_server, "common", "login", "demo", "admin", "wrong")["result"] is False
    result = jsonrpc(
        shop_server,
        "object",
        "execute_kw",
        "demo",
        2,
        "admin",
        "product.product",
        "search_read",
        [[("categ_id", "child_of", 2)]],
        {"fields": ["name"], "context": {"active_test": False}},
    )
    assert result["result"] == [{"id": 1, "name": "Apple"}, {"id": 2, "name": "Banana"}, {"id": 4, "name": "Bread"}]


@pytest.mark.parametrize(
    "args,name,message",
    [
        (("demo", 2, "wrong", "pos.order", "search", [[]]), "odoo.exceptions.AccessDenied", "Access Denied"),
        (("demo", 7, "clerk-pw", "pos.order", "search", [[]]), "odoo.exceptions.AccessError", "not allowed"),
        (("demo", 2, "admin", "nope.model", "search", [[]]), "odoo.exceptions.UserError", "doesn't exist"),
        (("demo", 2, "admin", "pos.order", "read", [[1], ["nope"]]), "builtins.ValueError", "Invalid field 'nope'"),
        (("demo", 2, "admin", "pos.order", "read", [[1]], {"bogus": 1}), "builtins.TypeError", "bogus"),
        (
            ("nope", 2, "admin", "pos.order", "search", [[]]),
            "psycopg2.OperationalError",
            'database "nope" does not exist',
        ),
    ],
)
def test_jsonrpc_errors(shop_server, args, name, message):
    error = jsonrpc(shop_server, "object", "execute_kw", *args)["error"]
    assert error["code"] == (200 if shop_server.db.version <= 18 else 0)
    assert error["message"] == "Odoo Server Error"
    data = error["data"]
    assert data["name"] == name and message in data["message"]
    assert set(data) == {"name", "debug", "message", "arguments", "context"} and data["context"] == {}
    assert data["debug"].startswith("Traceback") and data["arguments"]


def test_jsonrpc_unknown_service_and_bad_json(shop_server):
    assert jsonrpc(shop_server, "nope", "version")["error"]["data"]["name"] == "builtins.KeyError"
    assert jsonrpc(shop_server, "object", "fly")["error"]["data"]["name"] == "builtins.NameError"
    response = requests.post(
        f"{shop_server.url}/jsonrpc", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_session_routes(shop_server):
    session = requests.Session()
    expired = session.post(
        f"{shop_server.url}/web/dataset/call_kw",
        json={"params": {"model": "pos.order", "method": "search", "args": [[]], "kwargs": {}}},
    ).json()["error"]
    assert expired["code"] == 100 and expired["message"] == "Odoo Session Expired"
    assert expired["data"]["name"] == "odoo.http.SessionExpiredException"
    bad = session.post(
        f"{shop_server.url}/web/session/authenticate",
        json={"params": {"db": "demo", "login": "admin", "password": "wrong"}},
    ).json()
    assert bad["error"]["data"]["name"] == "odoo.exceptions.AccessDenied"
    info = session.post(
        f"{shop_server.url}/web/session/authenticate",
        json={"id": 5, "params": {"db": "demo", "login": "admin", "password": "admin"}},
    ).json()
    assert info["id"] == 5 and info["result"]["uid"] == 2 and info["result"]["user_context"]["tz"] == "Europe/Brussels"
    called = session.post(
        f"{shop_server.url}/web/dataset/call_kw/pos.order/search_count",
        json={
            "params": {"model": "pos.order", "method": "search_count", "args": [[("state", "=", "paid")]], "kwargs": {}}
        },
    ).json()
    assert called["result"] == 2
    session.post(f"{shop_server.url}/web/session/destroy", json={"params": {}})
    assert (
        session.post(f"{shop_server.url}/web/session/get_session_info", json={"params": {}}).json()["error"]["code"]
        == 100
    )


# ---------------------------------------------------------------- JSON-2 (Odoo 19)
def test_json2_calls(server19):
    response = json2(
        server19,
        "pos.order",
        "search_read",
        {"domain": [["state", "=", "paid"]], "fields": ["name", "partner_id"], "limit": 1},
    )
    assert response.status_code == 200
    assert response.json() == [{"id": 1, "name": "Shop/0001", "partner_id": [2, "Brandon Freeman"]}]
    assert json2(server19, "pos.order", "read", {"ids": [3], "fields": ["state"]}).json() == [
        {"id": 3, "state": "done"}
    ]
    everything = json2(server19, "product.product", "search", {"domain": [], "context": {"active_test": False}})
    assert everything.json() == [1, 2, 3, 4, 5]
    groups = json2(
        server19, "pos.order", "formatted_read_group", {"domain": [], "groupby": ["state"], "aggregates": ["__count"]}
    ).json()
    assert groups[0] == {"state": "cancel", "__count": 1, "__extra_domain": [["state", "=", "cancel"]]}
    assert json2(server19, "res.users", "context_get", db=None).json()["uid"] == 2  # one database: header optional


@pytest.mark.parametrize(
    "model,method,body,key,status,name,message",
    [
        (
            "pos.order",
            "search",
            {"domain": []},
            None,
            401,
            "werkzeug.exceptions.Unauthorized",
            "User not authenticated",
        ),
        ("pos.order", "search", {"domain": []}, "wrong", 401, "werkzeug.exceptions.Unauthorized", "Invalid apikey"),
        (
            "nope.model",
            "search",
            {"domain": []},
            "demo-api-key",
            404,
            "werkzeug.exceptions.NotFound",
            "the model 'nope.model' does not exist",
        ),
        (
            "pos.order",
            "fly",
            {},
            "demo-api-key",
            404,
            "werkzeug.exceptions.NotFound",
            "The method 'pos.order.fly' does not exist",
        ),
        (
            "pos.order",
            "search",
            {"ids": [1], "domain": []},
            "demo-api-key",
            422,
            "werkzeug.exceptions.UnprocessableEntity",
            "cannot call pos.order.search with ids",
        ),
        (
            "pos.order",
            "search",
            {"domain": [], "bogus": 1},
            "demo-api-key",
            422,
            "werkzeug.exceptions.UnprocessableEntity",
            "bogus",
        ),
        ("pos.order", "search", {}, "demo-api-key", 422, "werkzeug.exceptions.UnprocessableEntity", "domain"),
        ("pos.order", "search", {"domain": []}, "clerk-key", 403, "odoo.exceptions.AccessError", "not allowed"),
        ("pos.order", "_read", {}, "demo-api-key", 403, "odoo.exceptions.AccessError", "Private methods"),
        (
            "pos.order",
            "write",
            {"ids": [999], "vals": {"name": "x"}},
            "demo-api-key",
            404,
            "odoo.exceptions.MissingError",
            "Record does not exist",
        ),
        (
            "pos.order",
            "search",
            {"domain": [["nope", "=", 1]]},
            "demo-api-key",
            500,
            "builtins.ValueError",
            "Invalid field 'nope' on model 'pos.order'",
        ),
    ],
)
def test_json2_errors(server19, model, method, body, key, status, name, message):
    response = json2(server19, model, method, body, key=key)
    assert response.status_code == status and response.headers["Content-Type"] == "application/json"
    error = response.json()
    assert error["name"] == name and message in error["message"]
    assert set(error) == {"name", "debug", "message", "arguments", "context"}
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_json2_unknown_database_and_bad_requests(server19):
    unknown_db = json2(server19, "pos.order", "search", {"domain": []}, db="nope")
    assert unknown_db.status_code == 404 and unknown_db.headers["Content-Type"].startswith("text/html")
    lost = requests.get(f"{server19.url}/json/2/pos.order/search")
    assert lost.status_code == 404 and "Did you mean POST /json/2/<model>/<method>?" in lost.json()["message"]
    garbled = requests.post(
        f"{server19.url}/json/2/pos.order/search", data=b"[1,", headers={"Authorization": "bearer demo-api-key"}
    )
    assert garbled.status_code == 400 and "could not parse the body as json" in garbled.json()["message"]


@pytest.mark.parametrize("version", [16, 17, 18])
def test_json2_does_not_exist_before_19(version):
    with DemoServer(shop_db(version)) as srv:
        response = json2(srv, "pos.order", "search", {"domain": []})
        assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")


# ---------------------------------------------------------------- odoorpc
@pytest.mark.parametrize("version", [16, 19])
def test_odoorpc_logs_in_and_reads(version):
    with DemoServer(shop_db(version)) as srv:
        odoo = odoorpc.ODOO("127.0.0.1", port=srv.port, timeout=5)
        assert odoo.version == f"{version}.0"
        assert odoo.db.list() == ["demo"]
        odoo.login("demo", "admin", "admin")
        assert odoo.env.user.name == "Mitchell Admin"
        Product = odoo.env["product.product"]
        rows = Product.search_read([("categ_id", "child_of", 2)], ["name", "categ_id"])
        assert [(r["name"], r["categ_id"][1]) for r in rows] == [
            ("Apple", "All / Food / Fruit"),
            ("Banana", "All / Food / Fruit"),
            ("Bread", "All / Food"),
        ]
        apple = Product.browse(1)
        assert apple.categ_id.name == "Fruit" and apple.categ_id.parent_id.complete_name == "All / Food"
        order = odoo.env["pos.order"].browse(1)
        assert [line.product_id.name for line in order.lines] == ["Apple", "Banana"]
        with pytest.raises(odoorpc.error.RPCError):
            odoorpc.ODOO("127.0.0.1", port=srv.port).login("demo", "admin", "wrong")


# ---------------------------------------------------------------- faults
@pytest.mark.parametrize("status", [503, 500, 429])
def test_error_faults_answer_the_configured_status(fresh, status):
    fresh.faults = Faults(error_rate=1.0, status=status)
    with pytest.raises(xmlrpc.client.ProtocolError) as err:
        xmlrpc_proxy(fresh, "common").version()
    assert err.value.errcode == status
    page = requests.post(f"{fresh.url}/jsonrpc", json={"params": {}})
    assert page.status_code == status and page.headers["Content-Type"].startswith("text/html")
    assert (page.headers.get("Retry-After") == "1") == (status == 429)
    assert requests.get(f"{fresh.url}/web/version").status_code == 200  # never faulted
    assert fresh.injected["error"] == 2
    fresh.faults = Faults()
    assert xmlrpc_proxy(fresh, "common").version()["server_version"] == "17.0"


def test_error_faults_on_json2_have_a_json_body():
    with DemoServer(shop_db(19), faults=Faults(error_rate=1.0)) as srv:
        response = json2(srv, "pos.order", "search", {"domain": []})
        assert response.status_code == 503
        assert response.json()["name"] == "werkzeug.exceptions.ServiceUnavailable"


def test_a_cut_off_answer_sends_its_headers_and_half_its_body_then_closes(fresh):
    fresh.faults = Faults(truncate_rate=1.0)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.post(f"{fresh.url}/jsonrpc", json={"params": {"service": "common", "method": "version", "args": []}})
    raw = requests.post(
        f"{fresh.url}/jsonrpc", json={"params": {"service": "common", "method": "version", "args": []}}, stream=True
    )
    assert raw.status_code == 200 and int(raw.headers["Content-Length"]) > 0  # the headers promise a whole body
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        raw.content
    assert fresh.injected["truncated"] == 2


def test_a_reset_closes_the_connection_without_an_answer(fresh):
    fresh.faults = Faults(reset_rate=1.0)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"{fresh.url}/jsonrpc", json={"params": {}})
    fresh.faults = Faults()
    assert jsonrpc(fresh, "common", "version")["result"]["server_version"] == "17.0"
    assert fresh.injected["reset"] == 1


def test_errors_may_answer_several_statuses(fresh):
    fresh.faults = Faults(error_rate=1.0, statuses=(502, 503), seed=1)
    seen = {requests.post(f"{fresh.url}/jsonrpc", json={"params": {}}).status_code for _ in range(20)}
    assert seen == {502, 503}
    with pytest.raises(ValueError, match="status must be one of"):
        Faults(statuses=(200,))
    with pytest.raises(ValueError, match="must not add up to more than 1"):
        Faults(error_rate=0.5, truncate_rate=0.4, reset_rate=0.2)


def test_hang_outlasts_the_client_timeout_and_stop_interrupts_it():
    srv = DemoServer(shop_db(17), faults=Faults(timeout_rate=1.0, hang_seconds=30)).start()
    try:
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(f"{srv.url}/jsonrpc", json={"params": {}}, timeout=0.3)
        assert srv.injected["timeout"] == 1
    finally:
        started = time.monotonic()
        srv.stop()
    assert time.monotonic() - started < 3


def test_slow_calls_and_latency_still_answer(fresh):
    fresh.faults = Faults(slow_rate=1.0, slow_seconds=0.3)
    started = time.monotonic()
    assert jsonrpc(fresh, "common", "version")["result"]["server_version"] == "17.0"
    assert time.monotonic() - started >= 0.3
    fresh.faults = Faults(latency=0.15)
    started = time.monotonic()
    jsonrpc(fresh, "common", "version")
    assert time.monotonic() - started >= 0.15 and fresh.injected["slow"] == 1


def test_faults_are_deterministic_from_the_seed(fresh):
    fresh.faults = Faults(error_rate=0.5, seed=3)
    outcomes = [
        requests.post(
            f"{fresh.url}/jsonrpc", json={"params": {"service": "common", "method": "version", "args": []}}
        ).status_code
        for _ in range(20)
    ]
    reference = Faults(error_rate=0.5, seed=3)
    assert outcomes == [503 if reference.draw() == "error" else 200 for _ in range(20)]
    assert 0 < outcomes.count(503) < 20


def test_down_closes_connections(fresh):
    fresh.down = True
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"{fresh.url}/jsonrpc", json={"params": {}}, timeout=2)
    fresh.down = False
    assert jsonrpc(fresh, "common", "version")["result"]["server_version"] == "17.0"


def test_faults_validate_their_settings():
    with pytest.raises(ValueError):
        Faults(status=404)
    with pytest.raises(ValueError):
        Faults(error_rate=0.7, timeout_rate=0.5)


def test_counters(fresh):
    jsonrpc(fresh, "object", "execute_kw", "demo", 2, "admin", "pos.order", "search_read", [[]], {"limit": 1})
    xmlrpc_proxy(fresh, "common").version()
    assert fresh.calls["/jsonrpc"] == 1 and fresh.calls["/xmlrpc/2/common"] == 1
    assert fresh.model_calls["pos.order.search_read"] == 1


def test_stop_closes_kept_alive_connections():
    srv = DemoServer(shop_db(17)).start()
    session = requests.Session()
    assert session.get(f"{srv.url}/web/version").status_code == 200
    srv.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{srv.url}/web/version", timeout=2)


# ---------------------------------------------------------------- keyset paging at scale
def day_of_lines(days: int = 3, lines_per_day: int = 20_000, per_order: int = 10) -> Database:
    """``days`` x ``lines_per_day`` POS lines, orders spread over each day."""
    db = Database("demo", 17)
    define_models(db)
    db.users["admin"] = User("admin", "admin", 2)
    rng = random.Random(5)
    stamp = {"create_date": "2024-03-01 00:00:00", "write_date": "2024-03-01 00:00:00"}
    for n in range(50):
        db.models["product.product"].add({"name": f"P{n}", "categ_id": False, "active": True, **stamp})
    for day in range(days):
        for n in range(lines_per_day // per_order):
            seconds = n * 86_400 // (lines_per_day // per_order)
            when = f"2024-03-{day + 1:02d} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            order = db.models["pos.order"].add(
                {
                    "name": f"O{day}/{n}",
                    "state": "paid",
                    "date_order": when,
                    "partner_id": False,
                    "amount_total": 1.0,
                    **stamp,
                }
            )
            for _ in range(per_order):
                db.models["pos.order.line"].add(
                    {"order_id": order, "product_id": rng.randint(1, 50), "qty": 1.0, "price_subtotal": 1.0, **stamp}
                )
    return db


def test_keyset_paging_of_a_20k_line_day():
    with DemoServer(day_of_lines()) as srv:
        http = requests.Session()
        day = [
            ("order_id.date_order", ">=", "2024-03-02 00:00:00"),
            ("order_id.date_order", "<", "2024-03-03 00:00:00"),
        ]
        ids, last, started = [], 0, time.perf_counter()
        while True:
            payload = {
                "jsonrpc": "2.0",
                "method": "call",
                "id": 1,
                "params": {
                    "service": "object",
                    "method": "execute_kw",
                    "args": [
                        "demo",
                        2,
                        "admin",
                        "pos.order.line",
                        "search_read",
                        [[*day, ("id", ">", last)]],
                        {
                            "fields": ["order_id", "product_id", "qty", "price_subtotal", "write_date"],
                            "order": "id asc",
                            "limit": 1000,
                        },
                    ],
                },
            }
            rows = http.post(f"{srv.url}/jsonrpc", json=payload, timeout=30).json()["result"]
            if not rows:
                break
            ids += [r["id"] for r in rows]
            last = rows[-1]["id"]
        elapsed = time.perf_counter() - started
        print(f"\nkeyset paging: {len(ids)} lines in {len(ids) // 1000} pages of 1000, {elapsed:.2f} s over HTTP")
        assert ids == list(range(20_001, 40_001))
