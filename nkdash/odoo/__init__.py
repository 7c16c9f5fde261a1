"""Talking to Odoo: the client (three protocols), value normalisation, version profile."""

from __future__ import annotations

import datetime as dt
import functools
import threading
from typing import TYPE_CHECKING

from nkdash import dates as cal
from nkdash.errors import ConfigError
from nkdash.odoo.client import OdooClient, Page, detect_version
from nkdash.odoo.identity import OdooSource, identify
from nkdash.odoo.normalize import format_datetime, normalize, parse_date, parse_datetime
from nkdash.odoo.protocols import PROTOCOL_CLASSES, Json2Client, JsonRpcClient, XmlRpcClient
from nkdash.odoo.versions import VersionProfile
from nkdash.settings import Settings, get_settings

if TYPE_CHECKING:
    from nkdash.demo import DemoServer
    from nkdash.demo.generate import DemoConfig

__all__ = [
    "PROTOCOL_CLASSES",
    "Json2Client",
    "JsonRpcClient",
    "OdooClient",
    "OdooSource",
    "Page",
    "VersionProfile",
    "XmlRpcClient",
    "business_tz",
    "connect",
    "detect_version",
    "format_datetime",
    "identify",
    "normalize",
    "odoo_url",
    "parse_date",
    "parse_datetime",
]

_demo_lock = threading.Lock()
_demo_servers: dict[DemoConfig, DemoServer] = {}


def demo_config(settings: Settings) -> DemoConfig:
    """The demo Odoo configuration the settings describe.

    The embedded demo accepts the configured password as the JSON-2 API key too, so
    ``NKDASH_DEMO_VERSION=19`` works with no extra setting.
    """
    import datetime as dt

    from nkdash.demo.generate import DemoConfig

    end = dt.date.fromisoformat(settings.demo_end) if settings.demo_end else None
    return DemoConfig(
        version=settings.demo_version,
        seed=settings.demo_seed,
        scale=settings.demo_scale,
        days=settings.demo_days,
        end=end,
        tz=settings.tz or DemoConfig.tz,  # the demo's own default without NKDASH_TZ
        db_name=settings.odoo_db,
        login=settings.odoo_user,
        password=settings.odoo_password.get(),
        api_key=settings.odoo_password.get(),
    )


def embedded_demo_url(settings: Settings) -> str:
    """Start (once per process and configuration) the embedded demo Odoo; return its URL."""
    from nkdash.demo import start_demo

    config = demo_config(settings)
    with _demo_lock:
        server = _demo_servers.get(config)
        if server is None:
            server = _demo_servers[config] = start_demo(config)
    return server.url


@functools.lru_cache(maxsize=8)
def _user_tz(settings: Settings) -> str | None:
    return connect(settings).user_tz()


def business_tz(settings: Settings, client: OdooClient | None = None) -> dt.tzinfo:
    """The business timezone: ``NKDASH_TZ``, else the Odoo user's (asked of ``client``, or
    once per process and settings)."""
    if settings.tz:
        return cal.timezone(settings.tz)
    return cal.timezone(client.user_tz() if client is not None else _user_tz(settings))


def choose_protocol(settings: Settings, version: int) -> str:
    if settings.odoo_protocol != "auto":
        return settings.odoo_protocol
    return "json2" if version >= 19 else "jsonrpc"


def odoo_url(settings: Settings) -> str:
    """The URL of the configured Odoo: ``ODOO_URL``, or the embedded demo's when it is ``demo``.

    Raises ConfigError naming ODOO_URL when none is configured: a production server whose
    ``.env`` lost a line must not fill its lake with the invented company."""
    if settings.uses_demo:
        return embedded_demo_url(settings)
    if not settings.odoo_url:
        raise ConfigError(
            "ODOO_URL", "is not set: set it to your Odoo's address (https://...), or to `demo` for the demo company"
        )
    return settings.odoo_url


def connect(settings: Settings | None = None, *, authenticate: bool = True) -> OdooClient:
    """An authenticated client for the configured Odoo (``ODOO_URL``; ``demo``: the embedded one),
    which knows which database it reads (:func:`~nkdash.odoo.identity.identify`, asked at login)."""
    settings = settings or get_settings()
    url = odoo_url(settings)
    probe = OdooClient(
        url,
        settings.odoo_db,
        settings.odoo_user,
        "",
        timeout=settings.odoo_timeout,
        retries=settings.odoo_retries,
        backoff=settings.odoo_backoff,
        verify_tls=settings.odoo_verify_tls,
    )
    version = probe._with_retries(detect_version, url, probe._http, settings.odoo_timeout)
    cls = PROTOCOL_CLASSES[choose_protocol(settings, version)]
    client = cls.from_settings(settings, url=url, version=version)
    if authenticate:
        client.authenticate()
        identify(client, settings)
    return client
