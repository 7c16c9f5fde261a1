"""Model calls to a demo Odoo over the version's own protocol, as an Odoo client makes them."""

from __future__ import annotations

import xmlrpc.client

import requests

from nkdash.demo import DemoServer


class Rpc:
    """Model calls over the version's own protocol: XML-RPC ``/xmlrpc/2`` (16-18), JSON-2 (19).
    Arguments are named (JSON-2 wants names); ``ids`` goes first for record methods."""

    def __init__(self, server: DemoServer):
        self.url, self.version = server.url, server.db.version
        if self.version < 19:
            self.uid = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/common").authenticate(
                "demo", "admin", "admin", {}
            )
            self.object = xmlrpc.client.ServerProxy(f"{self.url}/xmlrpc/2/object", allow_none=True)

    def __call__(self, model: str, method: str, **kwargs):
        if self.version >= 19:
            response = requests.post(
                f"{self.url}/json/2/{model}/{method}",
                json=kwargs,
                timeout=10,
                headers={"Authorization": "bearer demo-api-key", "X-Odoo-Database": "demo"},
            )
            if response.status_code != 200:
                raise LookupError(response.status_code, response.json()["name"])
            return response.json()
        args = [kwargs.pop("ids")] if "ids" in kwargs else []
        try:
            return self.object.execute_kw("demo", self.uid, "admin", model, method, args, kwargs)
        except xmlrpc.client.Fault as fault:
            raise LookupError(fault.faultCode, fault.faultString) from None

    def counts(self, model: str, domain: list, groupby: str) -> dict:
        """Records per group (``read_group`` in 16-18, ``formatted_read_group`` in 19), keyed by
        the group's value: a many2one's id, a date's label, a selection's value."""
        if self.version >= 19:
            rows = self(model, "formatted_read_group", domain=domain, groupby=[groupby], aggregates=["__count"])
        else:
            rows = self(model, "read_group", domain=domain, fields=["__count"], groupby=[groupby], lazy=False)
        return {_key(row[groupby]): row["__count"] for row in rows}


def _key(value):
    if isinstance(value, list):  # many2one [id, name]; 19's dates [start, label]
        return value[0] if isinstance(value[0], int) else value[1]
    return value
