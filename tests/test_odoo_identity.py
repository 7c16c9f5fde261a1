"""Which Odoo database a client reads (nkdash.odoo.identity): what a lake records of its source,
and when two sources are the same database."""

from __future__ import annotations

import pytest

from nkdash.errors import OdooAccessError, SourceMismatch
from nkdash.etl.runner import check_source
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.odoo import OdooSource, connect, identify
from nkdash.odoo.identity import public_url, source_url
from nkdash.settings import Secret, Settings
from tests.support.demo import settings_for


def test_an_administrator_reads_the_database_uuid_and_the_company(demo, settings):
    client = connect(settings)
    source = identify(client, settings)
    uuid = demo.db.models["ir.config_parameter"].records[1]["value"]
    assert source == OdooSource(public_url(demo.url), "demo", "NK Retail SA", uuid)
    calls = client.calls
    assert identify(client, settings) is source and client.calls == calls  # once per connection


@pytest.mark.parametrize("version", [17, 19], ids=lambda v: f"odoo{v}")
def test_a_user_who_may_not_read_system_parameters_is_named_by_url_and_database(demo, tmp_path):
    cashier = next(u for u in demo.db.users.values() if u.allowed_models is not None)
    settings = settings_for(demo, tmp_path).with_(
        odoo_user=cashier.login,
        odoo_password=Secret(cashier.password),
        odoo_protocol="jsonrpc",  # no API key
    )
    client = connect(settings)
    with pytest.raises(OdooAccessError):  # system parameters are for administrators, as in Odoo
        client.execute("ir.config_parameter", "search_read", [], fields=["value"])
    assert identify(client, settings) == OdooSource(public_url(demo.url), "demo", "NK Retail SA", None)


@pytest.mark.parametrize(
    "recorded, now, same",
    [
        (OdooSource("https://a.example", "prod", "A", "u-1"), OdooSource("https://b.example", "x", "B", "u-1"), True),
        (
            OdooSource("https://a.example", "prod", "A", "u-1"),
            OdooSource("https://a.example", "prod", "A", "u-2"),
            False,
        ),
        (OdooSource("https://a.example", "prod", "A", None), OdooSource("https://a.example", "prod", "B", "u-1"), True),
        (OdooSource("https://a.example", "prod", "A", None), OdooSource("https://a.example", "test", "A", None), False),
        (OdooSource("https://a.example", "prod", "A", None), OdooSource("https://b.example", "prod", "A", None), False),
    ],
    ids=["uuid-moved-server", "uuid-other-database", "uuid-on-one-side", "other-database-name", "other-server"],
)
def test_the_same_database_is_the_same_uuid_or_else_url_and_database(recorded, now, same):
    assert recorded.same_as(now) is same


def test_urls_are_recorded_without_credentials_and_the_demo_by_its_company():
    assert public_url("HTTPS://bot:s3cret@ERP.example.com:8443/odoo/?db=x#y") == "https://erp.example.com:8443/odoo"
    assert source_url(Settings(odoo_url="https://u:p@erp.example.com/")) == "https://erp.example.com"
    assert source_url(Settings(odoo_url="demo", demo_version=18, demo_seed=7, demo_scale="tiny")) == "demo:18:7:tiny"


def test_the_first_run_records_the_source_and_another_is_refused(tmp_path):
    lake = Lake(tmp_path / "lake")
    meta = MetaStore.for_lake(lake)
    first = OdooSource("https://erp.example.com", "prod", "NK", "u-1")
    check_source(meta, first, lake)
    assert {k: v for k, v in meta.source().items() if k != "recorded_at"} == {
        "url": "https://erp.example.com",
        "db": "prod",
        "company": "NK",
        "uuid": "u-1",
    }
    check_source(meta, OdooSource("https://erp2.example.com", "prod", "NK", "u-1"), lake)  # moved: same uuid
    with pytest.raises(SourceMismatch) as refused:
        check_source(meta, OdooSource("https://erp.example.com", "staging", "NK", "u-2"), lake)
    assert refused.value.exit_code == 2 and "NKDASH_LAKE=<new path>" in str(refused.value)
    assert meta.source()["url"] == "https://erp.example.com"  # the first stays
