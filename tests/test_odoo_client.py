"""The Odoo client against the demo Odoo over real HTTP: 3 protocols x 4 versions."""

import socket
import threading

import pytest
import requests

from nkdash.demo import Faults, start_demo
from nkdash.demo.generate import DemoConfig
from nkdash.demo.store import User
from nkdash.errors import (
    ConfigError,
    OdooAccessDenied,
    OdooAccessError,
    OdooAuthError,
    OdooRequestError,
    OdooServerError,
    OdooTimeout,
    OdooTLSError,
    OdooUnknownDatabase,
    OdooUnreachable,
)
from nkdash.odoo import PROTOCOL_CLASSES, connect
from nkdash.settings import Secret, Settings

VERSIONS = (16, 17, 18, 19)
CASES = [(v, p) for v in VERSIONS for p in ("jsonrpc", "xmlrpc")] + [(19, "json2")]


@pytest.fixture(scope="module")
def servers():
    started = {v: start_demo(DemoConfig(version=v, scale="tiny", days=5)) for v in VERSIONS}
    yield started
    for srv in started.values():
        srv.stop()


def make(servers, version, protocol, **kw):
    srv = servers[version]
    password = "demo-api-key" if protocol == "json2" else "admin"
    opts = {"timeout": 5, "retries": 2, "backoff": 0.01, "batch_size": 50, "version": None}
    opts.update(kw)
    return PROTOCOL_CLASSES[protocol](
        srv.url,
        kw.pop("db", "demo"),
        "admin",
        kw.pop("password", password),
        **{k: v for k, v in opts.items() if k not in ("db", "password")},
    )


@pytest.mark.parametrize("version,protocol", CASES)
def test_login_version_and_profile(servers, version, protocol):
    client = make(servers, version, protocol)
    assert client.authenticate() > 0
    assert client.version == version
    prof = client.profile
    assert prof.move_qty_field == ("quantity_done" if version == 16 else "quantity")
    assert prof.storable_field == ("detailed_type" if version <= 17 else "is_storable")
    assert ("invoiced" in prof.pos_sold_states) == (version <= 18)
    assert prof.has_valuation_layer == (version <= 18)
    assert prof.group_method == ("formatted_read_group" if version >= 19 else "read_group")
    assert client.user_tz() == "Europe/Brussels"


@pytest.mark.parametrize("version,protocol", CASES)
def test_keyset_paging_crosses_batch_boundaries(servers, version, protocol):
    client = make(servers, version, protocol, batch_size=7)
    domain = [("state", "!=", "cancel")]
    pages = list(client.pages("pos.order.line", [("qty", "!=", 0)], ["order_id", "qty"], batch_size=7))
    ids = [r["id"] for p in pages for r in p.records]
    assert len(pages) > 3 and all(len(p.records) == 7 for p in pages[:-1])
    assert ids == sorted(set(ids))
    assert len(ids) == client.search_count("pos.order.line", [("qty", "!=", 0)])
    assert pages[-1].cursor == ids[-1]
    # resuming from a cursor continues exactly where it stopped
    rest = [
        r["id"]
        for p in client.pages("pos.order.line", [("qty", "!=", 0)], ["qty"], after_id=pages[1].cursor)
        for r in p.records
    ]
    assert rest == ids[14:]
    assert client.search_count("pos.order", domain) > 0


@pytest.mark.parametrize("version,protocol", CASES)
def test_values_are_normalised(servers, version, protocol):
    client = make(servers, version, protocol)
    orders = client.search_read(
        "pos.order",
        [],
        ["partner_id", "date_order", "account_move", "amount_total"],
        limit=200,
        with_names=["partner_id"],
    )
    assert any(o["partner_id"] is None for o in orders), "orders without customer -> None, not False"
    named = next(o for o in orders if o["partner_id"] is not None)
    assert isinstance(named["partner_id"], int) and isinstance(named["partner_id_name"], str)
    assert all(o["date_order"].tzinfo is not None for o in orders)
    assert all(o["account_move"] is None or isinstance(o["account_move"], int) for o in orders)
    products = client.search_read(
        "product.product", [("active", "=", False)], ["active", "categ_id"], context={"active_test": False}
    )
    assert products and all(p["active"] is False for p in products)


@pytest.mark.parametrize("version,protocol", CASES)
def test_aggregate_matches_the_records(servers, version, protocol):
    client = make(servers, version, protocol)
    domain = [("state", "in", list(client.profile.pos_sold_states))]
    rows = client.aggregate("pos.order", domain, ["amount_total"], ["config_id"])
    records = client.read_all("pos.order", domain, ["config_id", "amount_total"])
    by_store: dict = {}
    for r in records:
        by_store.setdefault(r["config_id"], [0, 0.0])
        by_store[r["config_id"]][0] += 1
        by_store[r["config_id"]][1] += r["amount_total"]
    assert {r["config_id"]: r["count"] for r in rows} == {k: v[0] for k, v in by_store.items()}
    for r in rows:
        assert r["amount_total"] == pytest.approx(by_store[r["config_id"]][1], abs=0.01)
    total = client.aggregate("pos.order", domain, ["amount_total"])
    assert total[0]["count"] == len(records)


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("version,protocol", CASES)
def test_bad_credentials(servers, version, protocol):
    client = make(servers, version, protocol, password="wrong")
    with pytest.raises(OdooAuthError) as err:
        client.authenticate()
    assert "wrong" not in str(err.value)
    assert client.retried == 0


@pytest.mark.parametrize("version,protocol", CASES)
def test_unknown_database(servers, version, protocol):
    client = make(servers, version, protocol, db="nope")
    with pytest.raises(OdooUnknownDatabase):
        client.authenticate()
    assert client.retried == 0


@pytest.mark.parametrize("version,protocol", [(17, "jsonrpc"), (17, "xmlrpc")])
def test_access_denied_after_login_is_not_retried(servers, version, protocol):
    client = make(servers, version, protocol)
    client.authenticate()
    client._password = "changed-meanwhile"
    with pytest.raises(OdooAccessDenied):
        client.execute("res.partner", "search_count", [])
    assert client.retried == 0


@pytest.mark.parametrize("version,protocol", CASES)
def test_access_error_and_unknown_field_are_not_retried(servers, version, protocol):
    srv = servers[version]
    srv.db.users["clerk"] = User(
        "clerk", "clerk-pw", uid=99, api_key="clerk-key", allowed_models=frozenset({"res.users", "product.product"})
    )
    client = make(servers, version, protocol)
    client.login, client._password = "clerk", ("clerk-key" if protocol == "json2" else "clerk-pw")
    client.authenticate()
    with pytest.raises(OdooAccessError):
        client.search_read("account.move", [], ["name"], limit=1)
    with pytest.raises(OdooRequestError):
        client.search_read("product.product", [("no_such_field", "=", 1)], ["name"], limit=1)
    assert client.retried == 0


def test_unreachable_host_is_retried_then_clear():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    client = PROTOCOL_CLASSES["jsonrpc"](
        f"http://127.0.0.1:{port}", "demo", "admin", "admin", retries=2, backoff=0.01, timeout=2
    )
    with pytest.raises(OdooUnreachable) as err:
        client.authenticate()
    assert client.retried == 2 and "ODOO_URL" in err.value.hint


def test_tls_failure(servers):
    url = servers[17].url.replace("http://", "https://")
    client = PROTOCOL_CLASSES["jsonrpc"](url, "demo", "admin", "admin", retries=1, backoff=0.01, timeout=5)
    with pytest.raises(OdooTLSError):
        client.authenticate()
    assert client.retried == 0


@pytest.mark.parametrize("protocol", ["jsonrpc", "xmlrpc"])
def test_timeouts_are_retried_then_reported(protocol):
    with start_demo(DemoConfig(version=17, scale="tiny", days=2)) as srv:
        client = make({17: srv}, 17, protocol, timeout=0.5, retries=1)
        client.authenticate()
        srv.faults = Faults(timeout_rate=1.0, hang_seconds=3.0)
        with pytest.raises(OdooTimeout):
            client.search_count("res.partner", [])
        assert client.retried == 1


@pytest.mark.parametrize("protocol", ["jsonrpc", "xmlrpc", "json2"])
def test_transient_errors_are_retried_until_success(protocol):
    with start_demo(DemoConfig(version=19, scale="tiny", days=2)) as srv:
        client = make({19: srv}, 19, protocol, retries=8)
        client.authenticate()
        expected = client.search_count("product.product", [])
        srv.faults = Faults(error_rate=0.5, seed=3)
        counts = [client.search_count("product.product", []) for _ in range(10)]
        assert counts == [expected] * 10
        assert client.retried > 0
        srv.faults = Faults(error_rate=1.0)
        client.retried = 0
        with pytest.raises(OdooServerError):
            client.search_count("product.product", [])
        assert client.retried == 8


@pytest.mark.parametrize("protocol", ["jsonrpc", "xmlrpc", "json2"])
def test_answers_cut_off_mid_body_and_resets_are_retried_like_errors(protocol):
    """A reply that sends its headers and part of its body, then closes (requests raises
    ChunkedEncodingError), and a connection closed with no answer are retried; the records
    read through them are those of a clean read."""
    with start_demo(DemoConfig(version=19, scale="tiny", days=2)) as srv:
        client = make({19: srv}, 19, protocol, retries=8)
        expected = client.read_all("pos.order.line", [], ["qty", "price_subtotal"])
        srv.faults = Faults(truncate_rate=0.3, reset_rate=0.2, seed=5)
        for _ in range(5):
            assert client.read_all("pos.order.line", [], ["qty", "price_subtotal"]) == expected
        assert srv.injected["truncated"] and srv.injected["reset"] and client.retried
        srv.faults = Faults(truncate_rate=1.0)
        client.retried = 0
        with pytest.raises(OdooServerError, match="cut off mid-body"):
            client.search_count("product.product", [])
        assert client.retried == 8


@pytest.mark.parametrize("version,protocol", [(17, "jsonrpc"), (19, "json2")])
def test_an_answer_that_is_not_json_is_retried_then_clear(servers, version, protocol, monkeypatch):
    client = make(servers, version, protocol, retries=1)
    client.authenticate()
    broken = requests.Response()
    broken.status_code, broken._content = 200, b'{"jsonrpc": "2.0", "res'
    monkeypatch.setattr(client, "_post", lambda path, **kw: broken)
    with pytest.raises(OdooServerError, match="unreadable answer from Odoo"):
        client.search_count("product.product", [])
    assert client.retried == 1


@pytest.mark.parametrize("version,protocol", [(17, "jsonrpc"), (19, "json2")])
def test_ids_are_keyset_paged(servers, version, protocol):
    client = make(servers, version, protocol)
    expected = client.execute("pos.order.line", "search", [("qty", ">", 0)], order="id asc")
    pages = list(client.ids("pos.order.line", [("qty", ">", 0)], batch_size=70))
    assert [i for page in pages for i in page] == expected and len(pages) == len(expected) // 70 + 1
    assert {len(page) for page in pages[:-1]} == {70}


def test_connect_uses_the_embedded_demo_when_asked_and_picks_the_protocol(tmp_path):
    base = Settings(odoo_url="demo", lake=tmp_path, demo_scale="tiny", demo_days=3, odoo_retries=1, odoo_backoff=0.01)
    assert connect(base.with_(demo_version=17)).protocol == "jsonrpc"
    assert connect(base.with_(demo_version=19, odoo_password=Secret("demo-api-key"))).protocol == "json2"
    assert connect(base.with_(demo_version=19, odoo_protocol="xmlrpc")).protocol == "xmlrpc"
    with pytest.raises(ConfigError, match="ODOO_URL"):  # nothing configured: never the demo by default
        connect(base.with_(odoo_url=None))


# ---------------------------------------------------------------- the prefetching pager
PAGER_CASES = [(16, "xmlrpc"), (17, "jsonrpc"), (19, "json2")]


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("nkdash-prefetch")]


@pytest.mark.parametrize("version,protocol", PAGER_CASES)
def test_table_pages_hold_the_same_records_as_pages(servers, version, protocol):
    client = make(servers, version, protocol)
    fields = ["order_id", "product_id", "qty", "price_subtotal", "is_total_cost_computed", "write_date"]
    records = [r for p in client.pages("pos.order.line", [], fields, batch_size=40) for r in p.records]
    tables = list(client.table_pages("pos.order.line", [], fields, batch_size=40))
    assert len(tables) > 3 and [t.table.num_rows for t in tables[:-1]] == [40] * (len(tables) - 1)
    assert [row for t in tables for row in t.table.to_pylist()] == records
    assert tables[-1].cursor == records[-1]["id"]
    assert client.read_table("pos.order.line", [], fields, batch_size=40).to_pylist() == records
    empty = client.read_table("pos.order.line", [("id", "<", 0)], fields)
    assert empty.num_rows == 0 and empty.schema == tables[0].table.schema
    assert not prefetch_threads()


def test_the_next_page_is_requested_while_the_caller_works(servers):
    client = make(servers, 17, "jsonrpc")
    client.authenticate()
    client.field_types("pos.order.line")
    made = client.calls
    pager = client.raw_pages("pos.order.line", [], ["qty"], batch_size=10)
    first, cursor = next(pager)
    assert len(first) == 10
    assert wait_until(lambda: client.calls == made + 2)  # the caller is busy; page 2 is requested meanwhile
    second, _ = next(pager)
    assert second[0]["id"] > cursor and wait_until(lambda: client.calls == made + 3)  # and page 3
    pager.close()
    assert not prefetch_threads()


def wait_until(condition, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return True
        threading.Event().wait(0.01)
    return condition()


def test_an_error_of_the_background_fetch_is_raised_in_the_caller(servers):
    client = make(servers, 17, "jsonrpc", retries=0)
    real = client.execute
    seen = []

    def execute(model, method, *args, **kwargs):
        if method == "search_read":
            seen.append(args)
            if len(seen) == 3:
                raise OdooServerError("Odoo answered HTTP 503 (server error)")
        return real(model, method, *args, **kwargs)

    client.execute = execute
    got = []
    with pytest.raises(OdooServerError, match="503"):
        for page in client.pages("pos.order.line", [], ["qty"], batch_size=10):
            got.append(page.cursor)
    assert len(got) == 2  # the pages before the failure were delivered, in order
    assert not prefetch_threads()


def test_closing_the_pager_early_leaves_no_thread_behind(servers):
    client = make(servers, 17, "jsonrpc")
    pager = client.table_pages("pos.order.line", [], ["qty"], batch_size=10)
    next(pager)
    assert prefetch_threads()  # the next page is being fetched
    pager.close()
    assert not prefetch_threads()
    for _page in client.pages("pos.order.line", [], ["qty"], batch_size=10):
        break  # a for loop left by break: the generator is closed when dropped
    del _page
    import gc

    gc.collect()
    assert not prefetch_threads()


def test_a_read_of_one_page_starts_no_thread(servers, monkeypatch):
    import concurrent.futures

    client = make(servers, 17, "jsonrpc", batch_size=1000)

    def no_thread(*args, **kwargs):
        raise AssertionError("a thread was started for a single page")

    monkeypatch.setattr(concurrent.futures, "ThreadPoolExecutor", no_thread)
    assert client.read_table("pos.config", [], ["name"]).num_rows == len(client.read_all("pos.config", [], ["name"]))


def test_threads_sharing_a_client_set_it_up_once(servers):
    """The ETL's totals thread and the pager's prefetch thread share one client: its login,
    version, fields_get and profile are fetched once, whichever thread asks first."""
    version = VERSIONS[-1]
    client = make(servers, version, "jsonrpc")
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            start.wait()
            assert client.fields("stock.move") and client.profile.storable_field
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    first = client.calls
    assert client.fields("stock.move") is client.fields("stock.move") and client.calls == first
    # one login, one version probe, and one fields_get per model (stock.move, those the profile inspects)
    assert first == 2 + len(client._fields), (first, sorted(client._fields))
