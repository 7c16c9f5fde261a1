"""The three ways to call Odoo — JSON-RPC, XML-RPC, JSON-2 — as :class:`OdooClient`
backends, and the server version read before logging in."""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Sequence
from typing import Any, ClassVar

from nkdash.errors import (
    OdooAccessError,
    OdooAuthError,
    OdooRequestError,
    OdooServerError,
    OdooUnknownDatabase,
)
from nkdash.odoo.answers import error_from_fault, error_from_odoo, first_line
from nkdash.odoo.client import TRANSIENT_STATUS, OdooClient


class JsonRpcClient(OdooClient):
    protocol = "jsonrpc"

    def _rpc(
        self, service: str, method: str, args: Sequence[Any], model: str | None = None, model_method: str | None = None
    ) -> Any:
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": self.calls,
            "params": {"service": service, "method": method, "args": list(args)},
        }
        resp = self._post("/jsonrpc", json=payload)
        self._raise_for_http(resp)
        body = self._json(resp)
        if "error" in body:
            err = body["error"]
            data = err.get("data") or {}
            raise error_from_odoo(
                data.get("name", ""), data.get("message") or err.get("message", ""), model=model, method=model_method
            )
        return body.get("result")

    def _authenticate(self) -> int:
        uid: int = self._rpc("common", "authenticate", [self.db, self.login, self._password, {}])  # False: refused
        return uid

    def _execute(self, model: str, method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        return self._rpc(
            "object",
            "execute_kw",
            [self.db, self.uid, self._password, model, method, list(args), kwargs],
            model=model,
            model_method=method,
        )


class XmlRpcClient(OdooClient):
    protocol = "xmlrpc"

    def _rpc(
        self, endpoint: str, method: str, args: Sequence[Any], model: str | None = None, model_method: str | None = None
    ) -> Any:
        body = xmlrpc.client.dumps(tuple(args), method, allow_none=True)
        resp = self._post(f"/xmlrpc/2/{endpoint}", data=body.encode(), headers={"Content-Type": "text/xml"})
        self._raise_for_http(resp)
        try:
            (result,), _ = xmlrpc.client.loads(resp.content, use_datetime=False)
        except xmlrpc.client.Fault as fault:
            raise error_from_fault(fault, model=model, method=model_method) from None
        except Exception as exc:  # noqa: BLE001 — malformed answer (proxy page, truncated body)
            raise OdooServerError(f"unreadable XML-RPC answer from Odoo ({type(exc).__name__})") from None
        return result

    def _authenticate(self) -> int:
        uid: int = self._rpc("common", "authenticate", [self.db, self.login, self._password, {}])  # False: refused
        return uid

    def _execute(self, model: str, method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        return self._rpc(
            "object",
            "execute_kw",
            [self.db, self.uid, self._password, model, method, list(args), kwargs],
            model=model,
            model_method=method,
        )


class Json2Client(OdooClient):
    """Odoo 19+ JSON-2: keyword arguments only, bearer API key (ODOO_PASSWORD holds it)."""

    protocol = "json2"
    # positional parameter names of the methods nkdash calls
    _POSITIONAL: ClassVar[dict[str, tuple[str, ...]]] = {
        "search_read": ("domain",),
        "search": ("domain",),
        "search_count": ("domain",),
        "read": ("ids",),
        "fields_get": ("allfields",),
        "read_group": ("domain", "fields", "groupby"),
        "formatted_read_group": ("domain",),
        "context_get": (),
    }

    def _call(self, model: str, method: str, kwargs: dict[str, Any]) -> Any:
        headers = {
            "Authorization": f"bearer {self._password}",
            "X-Odoo-Database": self.db,
            "Content-Type": "application/json",
        }
        resp = self._post(f"/json/2/{model}/{method}", json=kwargs, headers=headers)
        if resp.status_code == 200:
            return self._json(resp)
        try:
            err = resp.json()
        except ValueError:  # werkzeug's HTML page: Odoo could not even open the database
            if resp.status_code == 404:
                raise OdooUnknownDatabase(f"Odoo database {self.db!r} not found", model=model, method=method) from None
            err = {}
        name, message = err.get("name", ""), err.get("message", "") or resp.reason or ""
        if resp.status_code == 401:
            raise OdooAuthError(f"Odoo refused the API key of {self.login!r} (HTTP 401)", model=model, method=method)
        if resp.status_code == 403:
            raise OdooAccessError(
                f"{name or 'AccessError'} ({model}.{method}): {first_line(message)}", model=model, method=method
            )
        if name:  # Odoo's own exception: its name decides (a ValueError answers 500 but is not transient)
            raise error_from_odoo(name, message, model=model, method=method)
        if resp.status_code in TRANSIENT_STATUS:
            what = "too many requests" if resp.status_code == 429 else "server error"
            raise OdooServerError(
                f"Odoo answered HTTP {resp.status_code} ({what}) to {model}.{method}", model=model, method=method
            )
        raise OdooRequestError(
            f"Odoo answered HTTP {resp.status_code} to {model}.{method}: {first_line(message)}",
            model=model,
            method=method,
        )

    def _authenticate(self) -> int:
        ctx = self._call("res.users", "context_get", {})
        return int(ctx.get("uid") or 1) if isinstance(ctx, dict) else 0

    def _execute(self, model: str, method: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        names = self._POSITIONAL.get(method, ())
        if len(args) > len(names):
            raise OdooRequestError(
                f"JSON-2 takes keyword arguments; cannot map {len(args)} positional args of {method}"
            )
        return self._call(model, method, {**dict(zip(names, args)), **kwargs})


PROTOCOL_CLASSES: dict[str, type[OdooClient]] = {
    "json2": Json2Client,
    "jsonrpc": JsonRpcClient,
    "xmlrpc": XmlRpcClient,
}
