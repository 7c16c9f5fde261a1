import os
import subprocess
import sys
from pathlib import Path

import pytest

from nkdash.errors import ConfigError
from nkdash.settings import ENV_VARS, Secret, Settings, load_settings


def test_defaults_name_no_odoo_and_the_demo_is_asked_for():
    s = load_settings({}, env_file=None)
    assert not s.uses_demo and s.odoo_url is None  # a lost ODOO_URL never means "the demo company"
    assert s.lake == Path("data-lake")
    assert s.odoo_protocol == "auto"
    demo = load_settings({"ODOO_URL": "demo"}, env_file=None)  # no password needed for the demo
    assert demo.uses_demo and demo.odoo_url == "demo"


def test_without_odoo_a_command_that_needs_it_stops_with_one_line(tmp_path, capsys):
    """No ODOO_URL and no demo asked for: exit 2, one line naming ODOO_URL, nothing written."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ODOO_", "NKDASH_"))}
    env |= {
        "NKDASH_LAKE": str(tmp_path / "lake"),
        "NKDASH_STATE_DIR": str(tmp_path / "state"),
        "NKDASH_LOG_DIR": str(tmp_path / "logs"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "nkdash", "refresh", "pos", "--date", "2024-03-01"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "ODOO_URL" in run.stderr and "demo" in run.stderr
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").rglob("*.parquet"))


def test_env_file_then_environment_wins(tmp_path):
    env = tmp_path / ".env"
    env.write_text(
        "ODOO_URL=https://erp.example.com\nODOO_DB=prod\nODOO_PASSWORD=s3cret-from-file\nNKDASH_TZ=Europe/Paris\n"
    )
    s = load_settings({"ODOO_DB": "override"}, env_file=env)
    assert s.odoo_url == "https://erp.example.com"
    assert s.odoo_db == "override"
    assert s.odoo_password.get() == "s3cret-from-file"
    assert s.tz == "Europe/Paris"


def test_secrets_never_in_repr_or_public():
    s = load_settings({"ODOO_URL": "http://x", "ODOO_PASSWORD": "hunter2-secret"}, env_file=None)
    for text in (repr(s), str(s), repr(s.public()), str(s.odoo_password), f"{s.odoo_password}"):
        assert "hunter2-secret" not in text
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


@pytest.mark.parametrize(
    "var,value,fragment",
    [
        ("ODOO_URL", "erp.example.com", "http"),
        ("NKDASH_ODOO_PROTOCOL", "soap", "json2"),
        ("NKDASH_ODOO_TIMEOUT", "-1", "positive"),
        ("NKDASH_ODOO_TIMEOUT", "abc", "number"),
        ("NKDASH_ODOO_BATCH_SIZE", "0", "at least 1"),
        ("NKDASH_ODOO_RETRIES", "x", "whole number"),
        ("NKDASH_ODOO_VERIFY_TLS", "maybe", "true or false"),
        ("NKDASH_TZ", "Mars/Olympus", "timezone"),
        ("NKDASH_DEMO_VERSION", "15", "16, 17, 18 or 19"),
        ("NKDASH_DEMO_END", "2026-13-01", "YYYY-MM-DD"),
        ("NKDASH_LOCALE", "french", "en_GB"),
        ("NKDASH_LOCALE", "fr_be", "en_GB"),
        ("NKDASH_CURRENCY", "€", "ISO 4217"),
        ("NKDASH_VIEWER_SEES_COST", "sometimes", "true or false"),
        ("NKDASH_RECONCILE_DAYS", "0", "at least 1"),
        ("NKDASH_RECONCILE_DAYS", "400", "at most 366"),
    ],
)
def test_invalid_settings_name_the_variable(var, value, fragment):
    with pytest.raises(ConfigError) as err:
        load_settings({var: value}, env_file=None)
    assert err.value.setting == var
    assert str(err.value).startswith(var) and fragment in str(err.value)


def test_dashboard_settings_and_their_defaults():
    assert (Settings().viewer_sees_cost, Settings().locale, Settings().currency) == (True, None, None)
    s = load_settings({"NKDASH_LOCALE": "fr-BE", "NKDASH_CURRENCY": "CHF", "NKDASH_VIEWER_SEES_COST": "no"}, None)
    assert (s.locale, s.currency, s.viewer_sees_cost) == ("fr_BE", "CHF", False)


def test_real_odoo_needs_a_password():
    with pytest.raises(ConfigError) as err:
        load_settings({"ODOO_URL": "https://erp.example.com"}, env_file=None)
    assert err.value.setting == "ODOO_PASSWORD"


def test_every_setting_is_documented_in_env_example():
    example = (Path(__file__).parent.parent / ".env.example").read_text()
    missing = [var for var in ENV_VARS if var not in example]
    assert not missing, f"add to .env.example: {missing}"


def test_settings_are_immutable():
    s = Settings()
    with pytest.raises(AttributeError):
        s.odoo_db = "x"  # type: ignore[misc]
    assert s.with_(odoo_db="x").odoo_db == "x"
