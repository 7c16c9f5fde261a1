"""The historical XML-RPC paths ``/xmlrpc/<service>`` next to ``/xmlrpc/2/<service>``: same
services, but faults carry strings (Odoo's ``xmlrpc_handle_exception_string``), and the
third-party client ``odoo-client-lib`` (``odoolib``, XML-RPC mode) speaks them."""

from __future__ import annotations

import xmlrpc.client

import pytest
import requests

from nkdash.demo import DemoServer
from tests.support.shop import shop_db

VERSIONS = (16, 17, 18, 19)


@pytest.fixture(scope="module", params=VERSIONS, ids=lambda v: f"odoo{v}")
def shop_server(request):
    """The shop served over HTTP, per version (read only)."""
    with DemoServer(shop_db(request.param)) as srv:
        yield srv


def proxy(srv: DemoServer, path: str) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(f"{srv.url}/{path}", allow_none=True)


def test_the_legacy_paths_serve_every_service(shop_server):
    common, db = proxy(shop_server, "xmlrpc/common"), proxy(shop_server, "xmlrpc/db")
    assert common.version()["server_version_info"][0] == shop_server.db.version
    assert common.login("demo", "admin", "admin") == 2 and common.authenticate("demo", "admin", "wrong", {}) is False
    assert db.list() == ["demo"] and db.server_version() == f"{shop_server.db.version}.0"
    rows = proxy(shop_server, "xmlrpc/object").execute_kw(
        "demo", 2, "admin", "pos.order", "search_read", [[("state", "=", "paid")]], {"fields": ["name"]}
    )
    assert rows == [{"id": 1, "name": "Shop/0001"}, {"id": 5, "name": "Shop/0005"}]
    assert proxy(shop_server, "xmlrpc/object").execute("demo", 2, "admin", "pos.order", "search_count", []) == 5


@pytest.mark.parametrize(
    ("login", "model", "method", "args", "legacy_code", "legacy_string", "code"),
    [
        ("bad", "pos.order", "search", [[]], "AccessDenied", "Access Denied", 3),
        ("clerk", "pos.order", "search", [[]], "warning -- AccessError\n\nYou are not allowed to access", "", 4),
        ("admin", "pos.order", "_read", [[1]], "warning -- AccessError\n\nPrivate methods", "", 4),
        ("admin", "nope.model", "search", [[]], "warning -- UserError\n\nObject nope.model doesn't exist", "", 2),
        (
            "admin",
            "pos.order",
            "write",
            [[999], {"name": "x"}],
            "warning -- MissingError\n\nRecord does not exist or has been deleted.",
            "",
            2,
        ),
        (
            "admin",
            "pos.order",
            "search",
            [[("nope", "=", 1)]],
            "Invalid field 'nope' on model 'pos.order'",
            "Traceback (most recent call last):",
            1,
        ),
    ],
)
def test_legacy_faults_carry_strings_where_version_2_carries_numbers(
    shop_server, login, model, method, args, legacy_code, legacy_string, code
):
    uid, password = {"admin": (2, "admin"), "clerk": (7, "clerk-pw"), "bad": (2, "nope")}[login]
    with pytest.raises(xmlrpc.client.Fault) as legacy:
        proxy(shop_server, "xmlrpc/object").execute_kw("demo", uid, password, model, method, args, {})
    assert isinstance(legacy.value.faultCode, str) and legacy.value.faultCode.startswith(legacy_code)
    assert legacy.value.faultString.startswith(legacy_string) and bool(legacy.value.faultString) == bool(legacy_string)
    with pytest.raises(xmlrpc.client.Fault) as numbered:
        proxy(shop_server, "xmlrpc/2/object").execute_kw("demo", uid, password, model, method, args, {})
    assert numbered.value.faultCode == code


def test_an_unknown_database_names_itself_in_the_legacy_fault_code(shop_server):
    with pytest.raises(xmlrpc.client.Fault) as fault:
        proxy(shop_server, "xmlrpc/common").authenticate("nope", "admin", "admin", {})
    assert 'database "nope" does not exist' in fault.value.faultCode
    assert fault.value.faultString.startswith("Traceback") and "psycopg2.OperationalError" in fault.value.faultString


@pytest.mark.parametrize("path", ["/xmlrpc/", "/xmlrpc/2/", "/xmlrpc/object/extra", "/xmlrpc/2/object/extra"])
def test_paths_without_one_service_are_not_found(shop_server, path):
    response = requests.post(f"{shop_server.url}{path}", data=xmlrpc.client.dumps((), "version"))
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/html")


def test_odoolib_logs_in_and_reads_over_the_legacy_path(shop_server):
    """odoo-client-lib 2.0.1 in XML-RPC mode calls ``http://host:port/xmlrpc/<service>``."""
    odoolib = pytest.importorskip("odoolib", reason="odoo-client-lib is a test extra")
    shop_server.calls.clear()
    connection = odoolib.get_connection(
        hostname="127.0.0.1", protocol="xmlrpc", port=shop_server.port, database="demo", login="admin", password="admin"
    )
    connection.check_login()
    assert connection.user_id == 2
    assert connection.get_user_context() == {"lang": "en_US", "tz": "Europe/Brussels", "uid": 2}
    orders = connection.get_model("pos.order")
    paid = orders.search_read([("state", "=", "paid")], ["name", "amount_total", "partner_id"], order="id")
    assert paid == [
        {"id": 1, "name": "Shop/0001", "amount_total": 3.4, "partner_id": [2, "Brandon Freeman"]},
        {"id": 5, "name": "Shop/0005", "amount_total": -1.2, "partner_id": [2, "Brandon Freeman"]},
    ]
    assert orders.read(3, ["state"]) == {"id": 3, "state": "invoiced" if shop_server.db.version <= 18 else "done"}
    assert orders.search_count([]) == 5
    assert shop_server.calls["/xmlrpc/common"] == 1 and shop_server.calls["/xmlrpc/object"] >= 5
    assert not any(path.startswith(("/xmlrpc/2", "/jsonrpc")) for path in shop_server.calls)


def test_odoolib_sees_odoo_s_legacy_errors(shop_server):
    pytest.importorskip("odoolib", reason="odoo-client-lib is a test extra")
    import odoolib.tools  # binds odoolib too

    wrong = odoolib.get_connection(
        hostname="127.0.0.1", protocol="xmlrpc", port=shop_server.port, database="demo", login="admin", password="wrong"
    )
    with pytest.raises(odoolib.tools.AuthenticationError, match="Authentication failure"):
        wrong.check_login()  # common.login answered False
    stale = odoolib.get_connection(
        hostname="127.0.0.1",
        protocol="xmlrpc",
        port=shop_server.port,
        database="demo",
        login="admin",
        password="wrong",
        user_id=2,
    )
    with pytest.raises(xmlrpc.client.Fault) as denied:
        stale.get_model("pos.order").search([])
    assert denied.value.faultCode == "AccessDenied"
    admin = odoolib.get_connection(
        hostname="127.0.0.1", protocol="xmlrpc", port=shop_server.port, database="demo", login="admin", password="admin"
    )
    with pytest.raises(xmlrpc.client.Fault) as missing:
        admin.get_model("nope.model").search([])
    assert missing.value.faultCode == "warning -- UserError\n\nObject nope.model doesn't exist"
