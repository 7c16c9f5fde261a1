"""Settings, read once from the environment and a ``.env`` file.

Environment variables win over ``.env``. Secrets are wrapped in :class:`Secret`, whose
``repr``/``str`` never show the value.
"""

from __future__ import annotations

import logging
import math
import os
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values

from nkdash.dates import ISO_DATE
from nkdash.errors import ConfigError

log = logging.getLogger(__name__)


Protocol = Literal["auto", "json2", "jsonrpc", "xmlrpc"]
PROTOCOLS: tuple[str, ...] = ("auto", "json2", "jsonrpc", "xmlrpc")


class Secret:
    """A string that does not print itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None):
        self._value = value or ""

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True)
class Settings:
    # Odoo source. ODOO_URL=demo: the embedded demo Odoo; unset: commands that need Odoo refuse.
    odoo_url: str | None = None
    odoo_db: str = "demo"
    odoo_user: str = "admin"
    odoo_password: Secret = field(default_factory=lambda: Secret("admin"))
    odoo_protocol: Protocol = "auto"
    odoo_timeout: float = 60.0
    odoo_retries: int = 5
    odoo_backoff: float = 0.5  # first retry delay (s); doubles each retry, with jitter
    odoo_batch_size: int = 1000
    odoo_verify_tls: bool = True
    # Lake and business calendar.
    lake: Path = Path("data-lake")
    tz: str | None = None
    compact_after_days: int = 30  # the nightly compaction merges months that ended this long ago
    reconcile_days: int = 35  # the nightly reconciliation checks this many days up to yesterday against Odoo
    retention_years: int = 2  # archiving keeps this many full years before the current one (issue 17)
    # Where the queue, logs and other state live.
    state_dir: Path = Path("state")
    log_dir: Path = Path("logs")
    # Web app (nkdash serve): two roles, HTTP credentials from .env.
    web_host: str = "127.0.0.1"
    web_port: int = 2718
    web_workers: int = 2  # processes serving the notebooks (at most one per CPU)
    viewer_user: str = "viewer"
    viewer_password: Secret = field(default_factory=lambda: Secret(""))
    operator_user: str = "operator"
    operator_password: Secret = field(default_factory=lambda: Secret(""))
    # Dashboards: what viewers see and how numbers read.
    viewer_sees_cost: bool = True  # False: no cost, margin or stock value at cost for the viewer role
    locale: str | None = None  # e.g. en_GB, fr_BE; default: the Odoo company's language
    currency: str | None = None  # ISO code, e.g. EUR; default: the Odoo company's currency
    # Background work (huey): "sqlite" (file under state_dir) or "redis" (redis_url).
    queue: str = "sqlite"
    redis_url: Secret = field(default_factory=lambda: Secret("redis://127.0.0.1:6379/0"))
    # The embedded demo Odoo (used when ODOO_URL=demo).
    demo_version: int = 17
    demo_seed: int = 42
    demo_scale: str = "small"
    demo_days: int = 60
    demo_end: str | None = None  # last generated business date; default yesterday
    # Alerts (issue 17): by email (SMTP with TLS and login) and/or a webhook (JSON {"text": ...}).
    alert_email_to: str = ""  # comma-separated addresses; empty: no email
    alert_email_from: str = ""  # default: smtp_user
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: Secret = field(default_factory=lambda: Secret(""))
    smtp_tls: str = "starttls"  # starttls (port 587), ssl (port 465) or none (a local relay only)
    alert_webhook_url: Secret = field(default_factory=lambda: Secret(""))  # a webhook URL holds its token
    alert_repeat_hours: float = 24.0  # an incident still open is sent again after this long

    @property
    def uses_demo(self) -> bool:
        """ODOO_URL=demo: the embedded demo company, asked for explicitly."""
        return self.odoo_url == DEMO_URL

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """Environment variables that make a child process read these settings.

        Contains secrets: pass it to a child's environment, never print or log it.
        """

        def text(value: object) -> str:
            if isinstance(value, Secret):
                return value.get()
            if isinstance(value, bool):
                return "true" if value else "false"
            return "" if value is None else str(value)

        return {var: text(getattr(self, attr)) for var, (attr, _) in _ENV.items()}

    @property
    def odoo_url_shown(self) -> str | None:
        """``ODOO_URL`` as it may be shown: a user name or password in it masked."""
        return self.odoo_url and mask_url(self.odoo_url)

    def public(self) -> dict[str, object]:
        """Every setting, secrets masked (and credentials inside ``ODOO_URL``): safe to print or log."""
        shown: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            shown[f.name] = repr(value) if isinstance(value, Secret) else value
        shown["odoo_url"] = self.odoo_url_shown
        return shown

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in self.public().items()) + ")"


def mask_url(url: str) -> str:
    """``http://user:password@host/`` -> ``http://***@host/``: a URL without its credentials
    (everything before its last ``@``: a typed password may hold ``/`` or ``@``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"  # the last @: a password may hold / or @


# env var -> (attribute, parser)
def _int(name: str, value: str, lo: int = 0) -> int:
    try:
        n = int(value)
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {value!r}") from None
    if n < lo:
        raise ConfigError(name, f"must be at least {lo}")
    return n


def _at_most(name: str, n: int, hi: int) -> int:
    if n > hi:
        raise ConfigError(name, f"must be at most {hi}")
    return n


def _float(name: str, value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise ConfigError(name, f"expected a number of seconds, got {value!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise ConfigError(name, f"must be a finite positive number of seconds, got {value!r}")
    return x


def _port(name: str, value: str) -> int:
    n = _int(name, value)
    if not 1 <= n <= 65535:
        raise ConfigError(name, f"must be a port number from 1 to 65535, got {n}")
    return n


def _bool(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"expected true or false, got {value!r}")


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(name, f"expected one of {', '.join(choices)}, got {value!r}")
    return value


def _protocol(name: str, value: str) -> str:
    return _choice(name, value, PROTOCOLS)


DEMO_URL = "demo"  # ODOO_URL=demo: the embedded demo Odoo


def _url(name: str, value: str) -> str | None:
    """An Odoo address: ``http(s)://host[:port][/path]``, or ``demo``.

    A user name or password inside it is kept (requests sends it as HTTP Basic auth) but
    never shown (:func:`mask_url`), with a warning: Odoo's credentials belong in
    ``ODOO_USER``/``ODOO_PASSWORD``."""
    value = value.strip().rstrip("/")
    if not value:
        return None
    if value == DEMO_URL:
        return value
    if not value.startswith(("http://", "https://")):
        raise ConfigError(name, "must start with http:// or https:// (or be `demo` for the embedded demo Odoo)")
    shown = mask_url(value)
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError when not a number or out of range
    except ValueError as e:
        raise ConfigError(name, f"is not a valid URL ({e}): {shown}") from None
    if not parts.hostname or any(c.isspace() for c in value):
        raise ConfigError(name, f"is not a valid URL (no host name, or a space in it): {shown}")
    if port == 0:
        raise ConfigError(name, f"is not a valid URL (port 0): {shown}")
    if parts.username is not None or parts.password is not None:
        log.warning(
            "%s holds a user name or password (never shown); Odoo's credentials belong in ODOO_USER and ODOO_PASSWORD",
            name,
        )
    return value


def _dir(name: str, value: str) -> Path:
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise ConfigError(name, f"{value} exists and is not a directory")
    return path


def _tz(name: str, value: str) -> str | None:
    if not value:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(name, f"unknown timezone {value!r} (use an IANA name like Europe/Brussels)") from None
    return value


def _version(name: str, value: str) -> int:
    n = _int(name, value)
    if n not in (16, 17, 18, 19):
        raise ConfigError(name, "the demo Odoo plays versions 16, 17, 18 or 19")
    return n


DEMO_SCALES: tuple[str, ...] = ("tiny", "small", "medium", "full")  # nkdash.demo.generate.SCALES


def _scale(name: str, value: str) -> str:
    if value not in DEMO_SCALES:
        raise ConfigError(name, f"expected one of {', '.join(DEMO_SCALES)}, got {value!r}")
    return value


def _locale(name: str, value: str) -> str | None:
    """A locale code like ``fr_BE`` or ``en-GB`` (language, optional region), as ``fr_BE``."""
    value = value.strip().replace("-", "_")
    if not value:
        return None
    language, _, region = value.partition("_")
    if not (language.isalpha() and language.islower() and 2 <= len(language) <= 3) or (
        region and not (region.isalpha() and region.isupper() and len(region) == 2)
    ):
        raise ConfigError(name, f"expected a locale like en_GB or fr_BE, got {value!r}")
    return value


def _currency(name: str, value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if not (len(value) == 3 and value.isalpha() and value.isupper()):
        raise ConfigError(name, f"expected an ISO 4217 currency code like EUR, got {value!r}")
    return value


def _date(name: str, value: str) -> str | None:
    import datetime as dt

    if not value:
        return None
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError
        dt.date.fromisoformat(value)
    except ValueError:
        raise ConfigError(name, f"expected a date YYYY-MM-DD, got {value!r}") from None
    return value


SMTP_TLS: tuple[str, ...] = ("starttls", "ssl", "none")


def _emails(name: str, value: str, one: bool = False) -> str:
    """Comma-separated e-mail addresses (one with ``one``), each with an @ and no spaces."""
    found = [a.strip() for a in value.split(",") if a.strip()]
    bad = [a for a in found if "@" not in a or any(c.isspace() for c in a)]
    if bad or (one and len(found) > 1):
        raise ConfigError(name, f"expected {'an e-mail address' if one else 'e-mail addresses separated by commas'}")
    return ", ".join(found)


def _webhook(name: str, value: str) -> Secret:
    """A webhook URL (http or https); it holds its token, so it is a secret and never echoed."""
    value = value.strip()
    if value and not value.startswith(("http://", "https://")):
        raise ConfigError(name, "must start with https:// (or http:// for a local receiver)")
    return Secret(value)


_ENV: dict[str, tuple[str, Callable[[str, str], Any]]] = {  # variable -> (Settings field, parser)
    "ODOO_URL": ("odoo_url", _url),
    "ODOO_DB": ("odoo_db", lambda n, v: v),
    "ODOO_USER": ("odoo_user", lambda n, v: v),
    "ODOO_PASSWORD": ("odoo_password", lambda n, v: Secret(v)),
    "NKDASH_ODOO_PROTOCOL": ("odoo_protocol", _protocol),
    "NKDASH_ODOO_TIMEOUT": ("odoo_timeout", _float),
    "NKDASH_ODOO_RETRIES": ("odoo_retries", _int),
    "NKDASH_ODOO_BACKOFF": ("odoo_backoff", _float),
    "NKDASH_ODOO_BATCH_SIZE": ("odoo_batch_size", lambda n, v: _int(n, v, 1)),
    "NKDASH_ODOO_VERIFY_TLS": ("odoo_verify_tls", _bool),
    "NKDASH_LAKE": ("lake", _dir),
    "NKDASH_TZ": ("tz", _tz),
    "NKDASH_COMPACT_AFTER_DAYS": ("compact_after_days", _int),
    "NKDASH_RECONCILE_DAYS": ("reconcile_days", lambda n, v: _at_most(n, _int(n, v, 1), 366)),
    "NKDASH_STATE_DIR": ("state_dir", _dir),
    "NKDASH_LOG_DIR": ("log_dir", _dir),
    "NKDASH_WEB_HOST": ("web_host", lambda n, v: v),
    "NKDASH_WEB_PORT": ("web_port", _port),
    "NKDASH_WEB_WORKERS": ("web_workers", lambda n, v: _at_most(n, _int(n, v, 1), 64)),
    "NKDASH_VIEWER_USER": ("viewer_user", lambda n, v: v),
    "NKDASH_VIEWER_PASSWORD": ("viewer_password", lambda n, v: Secret(v)),
    "NKDASH_OPERATOR_USER": ("operator_user", lambda n, v: v),
    "NKDASH_OPERATOR_PASSWORD": ("operator_password", lambda n, v: Secret(v)),
    "NKDASH_VIEWER_SEES_COST": ("viewer_sees_cost", _bool),
    "NKDASH_LOCALE": ("locale", _locale),
    "NKDASH_CURRENCY": ("currency", _currency),
    "NKDASH_QUEUE": ("queue", lambda n, v: _choice(n, v, ("sqlite", "redis"))),
    "NKDASH_REDIS_URL": ("redis_url", lambda n, v: Secret(v)),
    "NKDASH_DEMO_VERSION": ("demo_version", _version),
    "NKDASH_DEMO_SEED": ("demo_seed", _int),
    "NKDASH_DEMO_SCALE": ("demo_scale", _scale),
    "NKDASH_DEMO_DAYS": ("demo_days", lambda n, v: _int(n, v, 1)),
    "NKDASH_DEMO_END": ("demo_end", _date),
    "NKDASH_RETENTION_YEARS": ("retention_years", _int),
    "NKDASH_ALERT_EMAIL_TO": ("alert_email_to", _emails),
    "NKDASH_ALERT_EMAIL_FROM": ("alert_email_from", lambda n, v: _emails(n, v, one=True)),
    "NKDASH_SMTP_HOST": ("smtp_host", lambda n, v: v.strip()),
    "NKDASH_SMTP_PORT": ("smtp_port", lambda n, v: _int(n, v, 1)),
    "NKDASH_SMTP_USER": ("smtp_user", lambda n, v: v.strip()),
    "NKDASH_SMTP_PASSWORD": ("smtp_password", lambda n, v: Secret(v)),
    "NKDASH_SMTP_TLS": ("smtp_tls", lambda n, v: _choice(n, v, SMTP_TLS)),
    "NKDASH_ALERT_WEBHOOK_URL": ("alert_webhook_url", _webhook),
    "NKDASH_ALERT_REPEAT_HOURS": ("alert_repeat_hours", _float),
}
ENV_VARS: tuple[str, ...] = tuple(_ENV)


def load_settings(env: Mapping[str, str] | None = None, env_file: str | os.PathLike | None = ".env") -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``) over ``env_file``."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if env is None else env)
    kwargs: dict[str, Any] = {}  # field -> value, each checked by its parser
    for var, (attr, parse) in _ENV.items():
        if var in values:
            kwargs[attr] = parse(var, values[var])
    settings = Settings(**kwargs)
    if settings.odoo_url and not settings.uses_demo and not values.get("ODOO_PASSWORD"):
        raise ConfigError("ODOO_PASSWORD", "is required when ODOO_URL is set")
    return settings


_cached: Settings | None = None


def reset_settings() -> None:
    """Forget the process-wide settings: the next :func:`get_settings` reads them again."""
    global _cached  # noqa: PLW0603 — the one process-wide settings object
    _cached = None


def get_settings() -> Settings:
    """The process-wide settings, read once."""
    global _cached  # noqa: PLW0603 — the one process-wide settings object
    if _cached is None:
        _cached = load_settings()
    return _cached
