"""Talking to Odoo: the client (three protocols), value normalisation, version profile."""

from __future__ import annotations

import datetime as dt
import functools
import threading

from nkdash import dates as cal
from nkdash.odoo.client import (
    PROTOCOL_CLASSES,
    Json2Client,
    JsonRpcClient,
    OdooClient,
    Page,
    XmlRpcClient,
    detect_version,
)
from nkdash.odoo.normalize import format_datetime, normalize, parse_date, parse_datetime  # noqa: F401
from nkdash.odoo.versions import VersionProfile  # noqa: F401
from nkdash.settings import Settings, get_settings

_demo_lock = threading.Lock()
_demo_servers: dict[tuple, object] = {}


def demo_config(settings: Settings):
    """The demo Odoo configuration the settings describe.

    The embedded demo accepts the configured password as the JSON-2 API key too, so
    ``NKDASH_DEMO_VERSION=19`` works with no extra setting.
    """
    import datetime as dt

    from nkdash.demo.generate import DemoConfig

    end = dt.date.fromisoformat(settings.demo_end) if settings.demo_end else None
    kwargs = {
        "version": settings.demo_version,
        "seed": settings.demo_seed,
        "scale": settings.demo_scale,
        "days": settings.demo_days,
        "end": end,
        "db_name": settings.odoo_db,
        "login": settings.odoo_user,
        "password": settings.odoo_password.get(),
        "api_key": settings.odoo_password.get(),
    }
    if settings.tz:
        kwargs["tz"] = settings.tz
    return DemoConfig(**kwargs)


def embedded_demo_url(settings: Settings) -> str:
    """Start (once per process and configuration) the embedded demo Odoo; return its URL."""
    from nkdash.demo import start_demo

    config = demo_config(settings)
    with _demo_lock:
        server = _demo_servers.get(config)
        if server is None:
            server = _demo_servers[config] = start_demo(config)
    return server.url  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=8)
def _user_tz(settings: Settings) -> str:
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


def connect(settings: Settings | None = None, *, authenticate: bool = True) -> OdooClient:
    """An authenticated client for the configured Odoo (the embedded demo when ODOO_URL is unset)."""
    settings = settings or get_settings()
    url = settings.odoo_url or embedded_demo_url(settings)
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
    return client
