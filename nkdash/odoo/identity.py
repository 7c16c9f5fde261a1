"""Which Odoo database a client talks to: a lake holds the data of one (ARCHITECTURE.md).

An :class:`OdooSource` is what the lake records on its first run and what every later run
is compared with: the URL (credentials left out; ``demo:<version>:<seed>:<scale>`` for the
embedded demo Odoo, whose port changes from run to run), the database, the user's company,
and the database's ``database.uuid`` system parameter when the user may read it (Odoo lets
administrators only). Two sources are the same database when their uuids are equal, or,
without a uuid on both sides, when URL and database are: a server moved to another address
keeps its uuid. The company is shown, not compared: nkdash reads every company the user may.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from nkdash.errors import OdooAccessDenied, OdooAccessError, OdooRequestError, OdooUserError
from nkdash.odoo.client import OdooClient
from nkdash.settings import Settings

UUID_KEY = "database.uuid"
_NOT_READABLE = (OdooAccessError, OdooAccessDenied, OdooRequestError, OdooUserError)
_identified: weakref.WeakKeyDictionary[OdooClient, OdooSource] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class OdooSource:
    url: str
    db: str
    company: str | None = None
    uuid: str | None = None

    def same_as(self, other: OdooSource) -> bool:
        if self.uuid and other.uuid:
            return self.uuid == other.uuid
        return self.url == other.url and self.db == other.db

    def describe(self) -> str:
        """One line for a person: where, which database, which company (and its uuid)."""
        about = [f"database {self.db!r}"]
        about += [f"company {self.company!r}"] if self.company else []
        about += [f"uuid {self.uuid}"] if self.uuid else []
        return f"{self.url} ({', '.join(about)})"


def public_url(url: str) -> str:
    """``url`` without credentials, query or fragment, host in lower case, no trailing slash."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def source_url(settings: Settings) -> str:
    """How the configured Odoo is named in the lake: its public URL, or the demo company."""
    if settings.uses_demo:
        return f"demo:{settings.demo_version}:{settings.demo_seed}:{settings.demo_scale}"
    return public_url(settings.odoo_url or "")


def identify(client: OdooClient, settings: Settings) -> OdooSource:
    """The source ``client`` reads (asked of Odoo once per connection: two calls)."""
    known = _identified.get(client)
    if known is None:
        known = _identified[client] = OdooSource(source_url(settings), client.db, _company(client), _uuid(client))
    return known


def _uuid(client: OdooClient) -> str | None:
    try:
        rows = client.execute("ir.config_parameter", "search_read", [("key", "=", UUID_KEY)], fields=["value"], limit=1)
    except _NOT_READABLE:  # not an administrator (or no such model): URL and database name it
        return None
    value = rows[0].get("value") if rows else None
    return str(value) if value else None


def _company(client: OdooClient) -> str | None:
    if client.uid is None:
        client.authenticate()
    try:
        rows = client.execute("res.users", "read", [client.uid], fields=["company_id"])
    except _NOT_READABLE:
        return None
    company = rows[0].get("company_id") if rows else None
    return str(company[1]) if isinstance(company, list) and len(company) > 1 else None
