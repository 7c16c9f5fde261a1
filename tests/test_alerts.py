"""Alerts end to end: a real SMTP server (STARTTLS and a login, aiosmtpd) and a real webhook
receiver get one alert per incident and one when it clears, nothing more while it lasts,
and never a password."""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil

import pytest

from nkdash import alerts
from nkdash.errors import ConfigError
from nkdash.etl import refresh
from nkdash.jobs import backend
from nkdash.lake import Lake
from nkdash.meta import MetaStore
from nkdash.meta.alerts import AlertStore
from nkdash.ops import recovery
from nkdash.settings import Secret, load_settings
from tests.support.alerts import SMTP_PASSWORD, SMTP_USER, smtp_server, webhook_receiver
from tests.support.demo import DATES, END, TZ

ODOO_SECRET = "odoo-secret-7d1a42"
NOON = dt.datetime.combine(END + dt.timedelta(days=1), dt.time(10), dt.UTC)  # yesterday (END) is loaded: all ok


@pytest.fixture
def receivers(tmp_path, monkeypatch):
    with smtp_server(tmp_path) as mailbox, webhook_receiver() as hook:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # the client trusts the test's certificate
        yield mailbox, hook


@pytest.fixture
def clock(tmp_path, monkeypatch):
    path = tmp_path / "clock"

    def set_(at: dt.datetime) -> dt.datetime:
        path.write_text(at.isoformat())
        return at

    monkeypatch.setenv(backend.CLOCK_ENV, str(path))
    set_(NOON)
    return set_


@pytest.fixture
def alerting(loaded_lake, tmp_path, receivers, clock):
    """Settings on a private copy of the loaded lake, alerting by e-mail and webhook."""
    mailbox, hook = receivers
    source = loaded_lake(17)
    shutil.copytree(source.lake, tmp_path / "lake")
    return source.with_(
        lake=tmp_path / "lake",
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "logs",
        tz=TZ,
        alert_email_to="ops@example.com, boss@example.com",
        alert_email_from="nkdash@example.com",
        smtp_host=mailbox.host,
        smtp_port=mailbox.port,
        smtp_user=SMTP_USER,
        smtp_password=Secret(SMTP_PASSWORD),
        smtp_tls="starttls",
        alert_webhook_url=Secret(hook.url),
        alert_repeat_hours=6.0,
    )


def received(receivers) -> tuple[list[str], list[str]]:
    mailbox, hook = receivers
    return mailbox.subjects(), [t.splitlines()[0] for t in hook.texts()]


def assert_no_secret(settings, receivers, caplog, *secrets: str) -> None:
    """No password in what was sent, recorded, logged or written under the logs."""
    mailbox, hook = receivers
    store = AlertStore(MetaStore.for_lake(Lake(settings.lake, read_only=True), read_only=True))
    haystacks = [
        *(m.decode(errors="replace") for m in mailbox.raw),
        *(h.decode() for h in hook.raw),
        *(a["subject"] + a["body"] + str(a["deliveries"]) for a in store.alerts(limit=None)),
        *(str(i) for i in store.incidents(limit=None)),
        caplog.text,
        *(p.read_text(errors="replace") for p in settings.log_dir.rglob("*") if p.is_file()),
    ]
    for secret in (SMTP_PASSWORD, *secrets):
        assert not [h for h in haystacks if secret in h], secret


def test_a_late_dataset_alerts_once_by_each_channel_and_once_when_it_clears(alerting, receivers, clock, caplog):
    caplog.set_level(logging.DEBUG, logger="nkdash")
    assert alerts.check(alerting).incidents == []  # everything on target
    lake = Lake(alerting.lake)
    path = lake.info("fact_pos_sales", END).path
    os.truncate(path, 10)
    recovery.scan_and_quarantine(alerting)  # the operator moves it aside: POS is now 2 days behind
    first = alerts.check(alerting)
    assert [(i.key, i.severity) for i in first.incidents] == [("freshness:pos", "warning")]
    emails, posts = received(receivers)
    assert emails == posts == ["[nkdash] WARNING: POS Sales is LATE: 2 days behind (last loaded 2024-04-01)"]
    mailbox, _ = receivers
    assert mailbox.logins == [SMTP_USER]
    message = mailbox.messages[0]
    assert message["To"] == "ops@example.com, boss@example.com" and "What to do" in message.get_content()

    for minutes in (0, 5, 60, 300):  # the same incident is not sent again while it lasts
        clock(NOON + dt.timedelta(minutes=minutes))
        assert alerts.check(alerting).sent == []
    assert received(receivers) == (emails, posts)

    clock(NOON + dt.timedelta(hours=6))  # NKDASH_ALERT_REPEAT_HOURS later: once more
    assert [(key, event) for key, event, _ in alerts.check(alerting).sent] == [("freshness:pos", "repeat")]
    assert alerts.check(alerting).sent == []

    report = refresh("pos", [END], settings=alerting, progress=False)
    assert report.ok
    cleared = alerts.check(alerting)
    assert cleared.incidents == [] and [(k, e) for k, e, _ in cleared.sent] == [("freshness:pos", "resolved")]
    assert alerts.check(alerting).sent == []
    emails, posts = received(receivers)
    assert emails == posts
    assert emails[1:] == [
        "[nkdash] STILL WARNING: POS Sales is LATE: 2 days behind (last loaded 2024-04-01)",
        "[nkdash] RESOLVED: POS Sales is LATE: 2 days behind (last loaded 2024-04-01)",
    ]
    store = AlertStore(MetaStore.for_lake(lake))
    assert [a["event"] for a in store.alerts()] == ["resolved", "repeat", "open"]
    assert all(a["deliveries"] == {"email": "sent", "webhook": "sent"} for a in store.alerts())
    assert_no_secret(alerting, receivers, caplog)


def test_a_late_dataset_that_turns_critical_alerts_again(alerting, receivers, clock):
    meta = MetaStore.for_lake(Lake(alerting.lake))
    for day in (END - dt.timedelta(days=1), END):
        meta.set_partition("inventory", day, status="quarantined")  # last loaded: 2 days before END
    assert [i.severity for i in alerts.check(alerting).incidents] == ["warning"]
    clock(NOON + dt.timedelta(days=1))  # now 4 days behind: critical (and every other dataset late)
    sent = {key: event for key, event, _ in alerts.check(alerting).sent}
    assert sent["freshness:inventory"] == "escalated" and sent["freshness:pos"] == "open"
    assert (
        "[nkdash] CRITICAL: Inventory Moves is CRITICAL: 4 days behind (last loaded 2024-03-31)"
        in received(receivers)[0]
    )


def test_a_failed_run_alerts_once(alerting, receivers, caplog):
    caplog.set_level(logging.DEBUG, logger="nkdash")
    down = alerting.with_(odoo_url="http://127.0.0.1:9", odoo_retries=0, odoo_password=Secret(ODOO_SECRET))
    with pytest.raises(Exception, match="cannot connect to Odoo"):
        refresh("purchases", [DATES[0]], settings=down, progress=False)
    first = alerts.check(alerting)
    assert [(i.key, i.summary) for i in first.incidents] == [
        ("failed:purchases", f"Purchases: 1 failed load(s), {DATES[0]}")
    ]
    assert alerts.check(alerting).sent == []
    emails, posts = received(receivers)
    assert emails == posts == [f"[nkdash] WARNING: Purchases: 1 failed load(s), {DATES[0]}"]
    assert "last error:" in receivers[0].messages[0].get_content()
    assert refresh("purchases", [DATES[0]], settings=alerting, progress=False).ok
    assert [e for _, e, _ in alerts.check(alerting).sent] == ["resolved"]
    assert_no_secret(alerting, receivers, caplog, ODOO_SECRET)


def test_a_date_left_not_reconciled_alerts_once_and_clears_when_it_heals(alerting, receivers):
    meta = MetaStore.for_lake(Lake(alerting.lake))
    why = "not reloaded: Odoo kept failing"
    meta.record_reconciliation("invoices", DATES[1], "not_reconciled", why)
    run = meta.start_run("reconcile", DATES[1], "schedule")
    meta.finish_run(run, status="failed", error=f"invoices: {why}")
    first = alerts.check(alerting)
    assert [(i.key, i.severity, i.summary) for i in first.incidents] == [
        ("reconcile:invoices", "warning", f"Invoice Sales: not reconciled with Odoo on {DATES[1]}")
    ]  # once: the reconciliation's failed run is not also a failed load
    assert first.incidents[0].detail == f"{DATES[1]}: {why}" and alerts.check(alerting).sent == []
    meta.record_reconciliation("invoices", DATES[1], "healed")
    assert [(k, e) for k, e, _ in alerts.check(alerting).sent] == [("reconcile:invoices", "resolved")]
    emails, posts = received(receivers)
    assert (
        emails
        == posts
        == [
            f"[nkdash] WARNING: Invoice Sales: not reconciled with Odoo on {DATES[1]}",
            f"[nkdash] RESOLVED: Invoice Sales: not reconciled with Odoo on {DATES[1]}",
        ]
    )


def test_a_damaged_partition_alerts_once_and_clears_after_the_repair(alerting, receivers, caplog):
    lake = Lake(alerting.lake)
    path = lake.info("fact_invoice_sales", DATES[1]).path
    path.write_bytes(path.read_bytes()[:100])
    first = alerts.check(alerting)
    assert [(i.key, i.severity) for i in first.incidents] == [("damage:lake", "critical")]
    assert "fact_invoice_sales 2024-03-30 (unreadable)" in first.incidents[0].detail
    assert alerts.check(alerting).sent == []
    assert received(receivers)[0] == ["[nkdash] CRITICAL: The lake scan found 1 damaged partition(s)"]
    assert recovery.repair(alerting).ok
    assert [(k, e) for k, e, _ in alerts.check(alerting).sent] == [("damage:lake", "resolved")]
    emails, posts = received(receivers)
    assert emails == posts and len(emails) == 2
    assert_no_secret(alerting, receivers, caplog)


def test_a_repair_that_does_not_converge_alerts(alerting, receivers):
    down = alerting.with_(odoo_url="http://127.0.0.1:9", odoo_retries=0)
    shutil.rmtree(Lake(alerting.lake).partition_dir("fact_purchases", DATES[2]))
    with pytest.raises(Exception, match="cannot connect to Odoo"):
        recovery.repair(down)
    assert received(receivers)[0] == ["[nkdash] WARNING: A repair did not converge"]
    assert recovery.repair(alerting).ok
    assert received(receivers)[0][-1] == "[nkdash] RESOLVED: A repair did not converge"


def test_a_worker_that_stops_ticking_alerts(alerting, receivers, clock):
    huey = backend.huey_for(alerting)
    huey.put(backend.storage_key(huey, "last_tick"), (NOON - dt.timedelta(minutes=3)).isoformat())
    assert alerts.check(alerting).incidents == []
    clock(NOON + dt.timedelta(minutes=9))
    assert alerts.check(alerting).incidents[0].key == "worker:tick"
    huey.put(backend.storage_key(huey, "last_tick"), (NOON + dt.timedelta(minutes=9)).isoformat())
    assert [e for _, e, _ in alerts.check(alerting).sent] == ["resolved"]
    assert received(receivers)[0] == [
        "[nkdash] CRITICAL: No worker is running: the schedule was last checked 12 min ago",
        "[nkdash] RESOLVED: No worker is running: the schedule was last checked 12 min ago",
    ]


def test_a_test_alert_reaches_both_channels(alerting, receivers, cli):
    code, out, err = cli(alerting, "alert", "test")
    assert code == 0 and out.splitlines() == ["email: sent", "webhook: sent"], err
    assert received(receivers) == (["[nkdash] TEST: alerts reach you"], ["[nkdash] TEST: alerts reach you"])
    code, out, _ = cli(alerting, "alert", "list")
    assert code == 0 and "test" in out and "email sent" in out


def test_delivery_failures_are_recorded_without_secrets(alerting, receivers, cli):
    wrong = alerting.with_(
        smtp_password=Secret("wrong-" + SMTP_PASSWORD), alert_webhook_url=Secret(receivers[1].url + "x")
    )
    deliveries = alerts.send_test(wrong.with_(alert_webhook_url=Secret("http://127.0.0.1:9/T0-token")))
    assert deliveries["email"].startswith("failed: SMTP") and deliveries["webhook"] == "failed: ConnectionError"
    code, out, _ = cli(wrong.with_(alert_webhook_url=Secret("")), "alert", "test")
    assert code == 1 and out.strip().startswith("email: failed: SMTP")
    code, _, err = cli(alerting.with_(alert_email_to="", alert_webhook_url=Secret("")), "alert", "test")
    assert code == 2 and "no alert channel is configured" in err
    with pytest.raises(ConfigError):
        alerts.send_test(alerting.with_(smtp_host="", alert_webhook_url=Secret("")))
    assert received(receivers) == ([], [])


def test_alert_settings_are_read_checked_and_masked(tmp_path):
    settings = load_settings(
        {
            "NKDASH_ALERT_EMAIL_TO": "a@example.com,b@example.com",
            "NKDASH_SMTP_HOST": "smtp.example.com",
            "NKDASH_SMTP_PASSWORD": SMTP_PASSWORD,
            "NKDASH_ALERT_WEBHOOK_URL": "https://hooks.example.com/T0/secret-token",
            "NKDASH_ALERT_REPEAT_HOURS": "12",
            "NKDASH_RETENTION_YEARS": "3",
        },
        env_file=None,
    )
    assert settings.alert_email_to == "a@example.com, b@example.com" and settings.alert_repeat_hours == 12
    assert settings.retention_years == 3
    public = str(settings.public())
    assert SMTP_PASSWORD not in public and "secret-token" not in public and "a@example.com" in public
    assert alerts.channels(settings) == {
        "email": "a@example.com, b@example.com via smtp.example.com:587",
        "webhook": "hooks.example.com",
    }
    for env, message in (
        ({"NKDASH_ALERT_EMAIL_TO": "not an address"}, "NKDASH_ALERT_EMAIL_TO"),
        ({"NKDASH_SMTP_TLS": "maybe"}, "NKDASH_SMTP_TLS"),
        ({"NKDASH_ALERT_WEBHOOK_URL": "ftp://x/secret"}, "NKDASH_ALERT_WEBHOOK_URL"),
        ({"NKDASH_RETENTION_YEARS": "-1"}, "NKDASH_RETENTION_YEARS"),
    ):
        with pytest.raises(ConfigError, match=message) as error:
            load_settings(env, env_file=None)
        assert "secret" not in str(error.value)
