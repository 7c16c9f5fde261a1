"""The Odoo client: nkdash's only way to talk to Odoo.

Three interchangeable protocols share one base class:

- :class:`~nkdash.odoo.protocols.Json2Client` — ``POST /json/2/<model>/<method>``, bearer API key (Odoo 19+)
- :class:`~nkdash.odoo.protocols.JsonRpcClient` — ``POST /jsonrpc``, ``execute_kw`` (Odoo 16-19)
- :class:`~nkdash.odoo.protocols.XmlRpcClient` — ``/xmlrpc/2/common`` and ``/xmlrpc/2/object`` (Odoo 16-19)

The base class owns what is common: retries with exponential backoff and jitter for
transient failures, keyset paging (the next page is requested while the caller works on
the current one), value normalisation (per record, or per page as pyarrow columns) and
the version profile.
A subclass only knows how to encode one call and decode its answer or error.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import pyarrow as pa
import requests
import urllib3

from nkdash.errors import (
    ConfigError,
    OdooAuthError,
    OdooError,
    OdooRequestError,
    OdooServerError,
    OdooTimeout,
    OdooTLSError,
    OdooUnreachable,
)
from nkdash.odoo.normalize import normalize, normalize_table
from nkdash.odoo.versions import VersionProfile, build_profile
from nkdash.settings import Settings, mask_url

log = logging.getLogger(__name__)


T = TypeVar("T")


Domain = list[Any]


TRANSIENT_STATUS = {429, 500, 502, 503, 504}


# Read errors after the answer began (a body cut off mid-stream, a broken encoding): retried.
CUT_OFF: tuple[type[Exception], ...] = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    http.client.HTTPException,  # IncompleteRead, RemoteDisconnected... should requests not wrap them
    urllib3.exceptions.HTTPError,  # ProtocolError, DecodeError...
)


DEFAULT_CONTEXT = {"tz": "UTC"}


ID_PAGES = 100  # an ids-only page (``search``: ids only, 100 k with the default batch) holds this many batches


@dataclass(frozen=True)
class Page:
    """One batch of a keyset-paged read; ``cursor`` is the last id, to resume after."""

    records: list[dict[str, Any]]
    cursor: int


@dataclass(frozen=True)
class TablePage:
    """One batch of a keyset-paged read as a pyarrow table (one column per field)."""

    table: pa.Table
    cursor: int


class OdooClient:
    """Common behaviour; subclasses implement :meth:`_authenticate`, :meth:`_execute`."""

    protocol = "base"

    def __init__(
        self,
        url: str,
        db: str,
        login: str,
        password: str,
        *,
        timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        batch_size: int = 1000,
        verify_tls: bool = True,
        version: int | None = None,
    ):
        self.url, credentials = without_credentials(url.rstrip("/"))  # self.url may be shown and logged
        self.db = db
        self.login = login
        self._password = password
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.batch_size = batch_size
        self.uid: int | None = None
        self._version = version
        self._http = requests.Session()
        self._http.verify = verify_tls
        self._http.auth = credentials  # what requests does itself with a URL's user info
        self._fields: dict[str, dict[str, Any] | None] = {}
        self._profile: VersionProfile | None = None
        self.calls = 0  # RPC calls made (for tests and monitoring)
        self.retried = 0  # retries made
        self._count = threading.Lock()  # the pager's prefetch thread calls too
        # the lazy state (login, version, fields, profile) is set up once: the ETL's totals
        # thread and the pager's prefetch thread share this client
        self._setup = threading.RLock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} db={self.db!r} login={self.login!r}>"

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None, version: int | None = None) -> OdooClient:
        return cls(
            url or settings.odoo_url or "",
            settings.odoo_db,
            settings.odoo_user,
            settings.odoo_password.get(),
            timeout=settings.odoo_timeout,
            retries=settings.odoo_retries,
            backoff=settings.odoo_backoff,
            batch_size=settings.odoo_batch_size,
            verify_tls=settings.odoo_verify_tls,
            version=version,
        )

    def _post(self, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self._http.post(self.url + path, timeout=self.timeout, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise OdooTLSError(f"TLS failure talking to Odoo at {self.url}: {type(exc).__name__}") from None
        except requests.exceptions.Timeout:
            raise OdooTimeout(f"Odoo at {self.url} did not answer within {self.timeout:g}s") from None
        except requests.exceptions.ConnectionError:
            raise OdooUnreachable(f"cannot connect to Odoo at {self.url}") from None
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema):
            raise ConfigError("ODOO_URL", f"is not a valid URL: {self.url}") from None
        except CUT_OFF as exc:  # the answer began, then the connection broke: not the server's answer
            raise OdooServerError(f"Odoo's answer was cut off mid-body ({type(exc).__name__})") from None

    @staticmethod
    def _json(resp: requests.Response) -> Any:
        """The JSON body of a 2xx answer; a body that does not parse (cut off, or a proxy's
        page) is a transient :class:`OdooServerError`, retried like a reset."""
        try:
            return resp.json()
        except ValueError:
            raise OdooServerError(f"unreadable answer from Odoo (HTTP {resp.status_code}, not JSON)") from None

    def _raise_for_http(self, resp: requests.Response) -> None:
        if resp.status_code in TRANSIENT_STATUS:
            what = "too many requests" if resp.status_code == 429 else "server error"
            raise OdooServerError(f"Odoo answered HTTP {resp.status_code} ({what})")
        if resp.status_code == 404:
            raise OdooRequestError(
                f"Odoo has no endpoint {resp.request.path_url} (HTTP 404): wrong ODOO_URL or protocol?"
            )
        if resp.status_code >= 400:
            raise OdooRequestError(f"Odoo answered HTTP {resp.status_code}")

    def _with_retries(self, fn: Callable[..., T], *args: Any) -> T:
        attempt = 0
        while True:
            try:
                with self._count:
                    self.calls += 1
                return fn(*args)
            except OdooError as exc:
                if not exc.transient or attempt >= self.retries:
                    raise
                delay = random.uniform(0, self.backoff * (2**attempt))  # full jitter
                attempt += 1
                with self._count:
                    self.retried += 1
                log.warning("Odoo call failed (%s); retry %d/%d in %.2fs", exc, attempt, self.retries, delay)
                time.sleep(delay)

    def _authenticate(self) -> int:
        raise NotImplementedError

    def _execute(self, model: str, method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _server_version(self) -> int:
        return detect_version(self.url, self._http, self.timeout)

    @property
    def version(self) -> int:
        with self._setup:
            if self._version is None:
                self._version = self._with_retries(self._server_version)
            return self._version

    def authenticate(self) -> int:
        """Log in; raise :class:`OdooAuthError` when Odoo refuses the credentials."""
        uid = self._with_retries(self._authenticate)
        if not uid:
            raise OdooAuthError(f"Odoo refused the login {self.login!r} on database {self.db!r}")
        self.uid = uid
        return uid

    def execute(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``model.method(*args, **kwargs)`` with retries for transient failures."""
        if self.uid is None:
            with self._setup:
                if self.uid is None:
                    self.authenticate()
        return self._with_retries(self._execute, model, method, args, kwargs)

    def fields(self, model: str) -> dict[str, Any] | None:
        """fields_get() of ``model`` (cached per connection); None if the model is unknown."""
        with self._setup:
            if model not in self._fields:
                try:
                    self._fields[model] = self.execute(
                        model, "fields_get", attributes=["type", "string", "relation", "selection"]
                    )
                except OdooRequestError:
                    self._fields[model] = None
            return self._fields[model]

    def field_types(self, model: str) -> dict[str, str]:
        fields = self.fields(model)
        if fields is None:
            raise OdooRequestError(f"Odoo has no model {model!r}", model=model)
        return {name: spec.get("type", "char") for name, spec in fields.items()}

    @property
    def profile(self) -> VersionProfile:
        with self._setup:
            if self._profile is None:
                self._profile = build_profile(self.version, self.fields)
            return self._profile

    def context_get(self) -> dict[str, Any]:
        context: dict[str, Any] = self.execute("res.users", "context_get")
        return context

    def user_tz(self) -> str | None:
        return self.context_get().get("tz") or None

    def search_count(self, model: str, domain: Domain, context: dict | None = None) -> int:
        count: int = self.execute(model, "search_count", domain, context={**DEFAULT_CONTEXT, **(context or {})})
        return count

    def search_read(
        self,
        model: str,
        domain: Domain,
        fields: Sequence[str],
        *,
        order: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        context: dict | None = None,
        with_names: Sequence[str] = (),
    ) -> list[dict[str, Any]]:
        """One ``search_read`` call, normalised. Prefer :meth:`pages` for big reads."""
        kwargs: dict[str, Any] = {
            "fields": list(fields),
            "offset": offset,
            "context": {**DEFAULT_CONTEXT, **(context or {})},
        }
        if order:
            kwargs["order"] = order
        if limit:
            kwargs["limit"] = limit
        rows = self.execute(model, "search_read", domain, **kwargs)
        types = self.field_types(model)
        return [normalize(r, types, with_names) for r in rows]

    def pages(
        self,
        model: str,
        domain: Domain,
        fields: Sequence[str],
        *,
        after_id: int = 0,
        batch_size: int | None = None,
        context: dict | None = None,
        with_names: Sequence[str] = (),
    ) -> Iterator[Page]:
        """Keyset paging on id: ``[("id", ">", cursor)] + domain``, ``order="id asc"``.

        Each page's ``cursor`` is the last id read; pass it back as ``after_id`` to resume.
        Records are normalised one by one (dicts); :meth:`table_pages` gives columns.
        """
        types: dict[str, str] = {}
        for rows, cursor in self.raw_pages(
            model, domain, fields, after_id=after_id, batch_size=batch_size, context=context
        ):
            types = types or self.field_types(model)
            yield Page([normalize(r, types, with_names) for r in rows], cursor)

    def table_pages(
        self,
        model: str,
        domain: Domain,
        fields: Sequence[str],
        *,
        after_id: int = 0,
        batch_size: int | None = None,
        context: dict | None = None,
        with_names: Sequence[str] = (),
    ) -> Iterator[TablePage]:
        """:meth:`pages` as pyarrow tables: ``id`` then ``fields``, typed by Odoo field type."""
        columns = list(dict.fromkeys(["id", *fields]))
        types: dict[str, str] = {}
        for rows, cursor in self.raw_pages(
            model, domain, fields, after_id=after_id, batch_size=batch_size, context=context
        ):
            types = types or self.field_types(model)
            yield TablePage(normalize_table(rows, columns, types, with_names), cursor)

    def read_table(self, model: str, domain: Domain, fields: Sequence[str], **kwargs: Any) -> pa.Table:
        """Every matching record as one pyarrow table (typed even when there is none)."""
        tables = [page.table for page in self.table_pages(model, domain, fields, **kwargs)]
        if not tables:
            return self.empty_table(model, fields, kwargs.get("with_names", ()))
        return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]

    def empty_table(self, model: str, fields: Sequence[str], with_names: Sequence[str] = ()) -> pa.Table:
        """The table :meth:`read_table` gives when no record matches (no search made)."""
        return normalize_table([], list(dict.fromkeys(["id", *fields])), self.field_types(model), with_names)

    def raw_pages(
        self,
        model: str,
        domain: Domain,
        fields: Sequence[str],
        *,
        after_id: int = 0,
        batch_size: int | None = None,
        context: dict | None = None,
    ) -> Iterator[tuple[list[dict], int]]:
        """The keyset pager itself: ``(Odoo's records as they came, cursor)`` per page.

        While the caller works on page n, a background thread already requests page n+1
        (Odoo is another process: its time and ours overlap); a read of one page starts
        no thread. Errors of that request (after its retries) are raised here, in the
        caller; closing the generator early waits for the request in flight, so no
        thread outlives it.
        """
        size = batch_size or self.batch_size
        fields = list(dict.fromkeys(["id", *fields]))
        ctx = {**DEFAULT_CONTEXT, **(context or {})}

        def fetch(cursor: int) -> list[dict[str, Any]]:
            records: list[dict[str, Any]] = self.execute(
                model,
                "search_read",
                [("id", ">", cursor), *domain],
                fields=fields,
                offset=0,
                context=ctx,
                order="id asc",
                limit=size,
            )
            return records

        pool: concurrent.futures.ThreadPoolExecutor | None = None  # started once a second page is due
        try:
            rows = fetch(after_id)
            while rows:
                cursor = rows[-1]["id"]
                ahead = None
                if len(rows) == size:
                    pool = pool or concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nkdash-prefetch")
                    ahead = pool.submit(fetch, cursor)
                yield rows, cursor
                if ahead is None:
                    return
                rows = ahead.result()
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def ids(
        self, model: str, domain: Domain, *, batch_size: int | None = None, context: dict | None = None
    ) -> Iterator[list[int]]:
        """Keyset paging of ``search``: the ids of ``domain``, ascending, page by page (ids only,
        so pages are :data:`ID_PAGES` times the batch size)."""
        size = batch_size or self.batch_size * ID_PAGES
        ctx = {**DEFAULT_CONTEXT, **(context or {})}
        cursor = 0
        while True:
            page: list[int] = self.execute(
                model, "search", [("id", ">", cursor), *domain], order="id asc", limit=size, context=ctx
            )
            if page:
                yield page
            if len(page) < size:
                return
            cursor = page[-1]

    def read_all(self, model: str, domain: Domain, fields: Sequence[str], **kwargs: Any) -> list[dict[str, Any]]:
        return [rec for page in self.pages(model, domain, fields, **kwargs) for rec in page.records]

    def aggregate(
        self, model: str, domain: Domain, sums: Sequence[str], groupby: Sequence[str] = (), context: dict | None = None
    ) -> list[dict[str, Any]]:
        """Counts and sums computed by Odoo itself, whatever the version.

        Returns one dict per group: the groupby keys (many2one -> id), each summed field
        under its own name, and ``count``.
        """
        ctx = {**DEFAULT_CONTEXT, **(context or {})}
        if self.profile.group_method == "formatted_read_group":
            rows = self.execute(
                model,
                "formatted_read_group",
                domain,
                groupby=list(groupby),
                aggregates=[f"{f}:sum" for f in sums] + ["__count"],
                context=ctx,
            )
            return [_group_row(r, sums, groupby, lambda f: f"{f}:sum") for r in rows]
        rows = self.execute(
            model, "read_group", domain, [f"{f}:sum" for f in sums], list(groupby), lazy=False, context=ctx
        )
        return [_group_row(r, sums, groupby, lambda f: f) for r in rows]


def _group_row(
    row: dict[str, Any], sums: Sequence[str], groupby: Sequence[str], key: Callable[[str], str]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for g in groupby:
        value = row.get(g)
        out[g] = value[0] if isinstance(value, (list, tuple)) else (None if value is False else value)
    for f in sums:
        out[f] = row.get(key(f)) or 0
    out["count"] = row.get("__count", 0)
    return out


def without_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``http://user:pw@host`` -> (``http://host``, (user, pw)); the URL alone when it holds none.

    Raises ConfigError naming ODOO_URL (the URL masked) when it cannot be parsed."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises ValueError for a bad port
    except ValueError:
        raise ConfigError("ODOO_URL", f"is not a valid URL: {mask_url(url)}") from None
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host)), (unquote(parts.username or ""), unquote(parts.password or ""))


def detect_version(url: str, http: requests.Session, timeout: float) -> int:
    """Major Odoo version from ``GET /web/version``, falling back to JSON-RPC ``common.version``."""
    tmp = OdooClient(url, "", "", "", timeout=timeout)
    tmp._http = http
    resp = tmp._post("/web/webclient/version_info", json={"jsonrpc": "2.0", "method": "call", "params": {}, "id": 1})
    if resp.ok:
        info = tmp._json(resp).get("result") or {}
        if info.get("server_version_info"):
            return int(info["server_version_info"][0])
    resp = tmp._post(
        "/jsonrpc",
        json={
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {"service": "common", "method": "version", "args": []},
        },
    )
    tmp._raise_for_http(resp)
    info = tmp._json(resp).get("result") or {}
    try:
        return int(info["server_version_info"][0])
    except (KeyError, IndexError, TypeError, ValueError):
        raise OdooRequestError(f"{tmp.url} does not look like an Odoo server (no version)") from None
