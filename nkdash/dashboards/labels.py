"""Dimension lookups: stores, the category tree, product and warehouse labels by id."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from nkdash.dashboards.engine import query
from nkdash.dashboards.sql import CATEGORY_LABEL, DEPARTMENT, WAREHOUSE_STORE

if TYPE_CHECKING:
    from nkdash.dashboards.engine import Dashboard


CHANNEL_LABELS = {"pos": "Point of sale", "invoice": "Invoice"}


NO_STORE = "Invoices (no store)"


@query("dim_category")
def category_tree(db: Dashboard) -> pd.DataFrame:
    """Every category: id, parent_id, label (path without the root), department."""
    return db.sql(
        "category_tree",
        f"""
        SELECT c.id, c.parent_id, {CATEGORY_LABEL.format(c="c")} AS label, {DEPARTMENT.format(c="c")} AS department
        FROM dim_category c ORDER BY label, c.id""",
        {},
    )


@query("dim_product")
def product_labels(db: Dashboard) -> pd.DataFrame:
    return db.sql("product_labels", "SELECT id, default_code AS code, name AS product FROM dim_product", {})


@query("dim_company", "dim_currency", "dim_partner")
def company(db: Dashboard) -> pd.DataFrame:
    """The Odoo company (the first): name, currency (ISO code), symbol, position ('before' |
    'after'), lang (its partner's language, e.g. en_GB). No row before the dimensions load."""
    return db.sql(
        "company",
        """
        SELECT c.name, cur.name AS currency, cur.symbol, cur.position, p.lang
        FROM dim_company c LEFT JOIN dim_currency cur ON cur.id = c.currency_id
        LEFT JOIN dim_partner p ON p.id = c.partner_id
        ORDER BY c.id LIMIT 1""",
        {},
    )


@query("dim_currency")
def currencies(db: Dashboard) -> pd.DataFrame:
    """Every currency Odoo knows: name (ISO code), symbol, position."""
    return db.sql("currencies", "SELECT name, symbol, position FROM dim_currency ORDER BY id", {})


@query("dim_store")
def stores(db: Dashboard) -> pd.DataFrame:
    """Every store: id, name, warehouse_id, active."""
    return db.sql("stores", "SELECT id, name, warehouse_id, active FROM dim_store ORDER BY name, id", {})


class Labels:
    """Label columns of a dimension by id, looked up for many ids at once (numpy, no join):
    each id's row from an array indexed by id when the ids are dense enough (Odoo's are:
    one gather instead of a binary search per id), else by binary search."""

    def __init__(self, frame: pd.DataFrame):
        frame = frame.sort_values("id", kind="stable")
        self.ids = frame["id"].to_numpy(dtype=np.int64)
        self.columns = {c: frame[c].array for c in frame.columns if c != "id"}
        self.rows: np.ndarray | None = None
        if len(self.ids) and self.ids[0] >= 0 and self.ids[-1] < 16 * len(self.ids) + 65536:
            self.rows = np.full(self.ids[-1] + 1, -1, dtype=np.int64)
            self.rows[self.ids[::-1]] = np.arange(len(self.ids))[::-1]  # an id's first row wins

    def of(self, ids: np.ndarray, *columns: str) -> list[Any]:
        """Each of ``columns`` for ``ids`` (ExtensionArrays; null where the id is unknown)."""
        if self.rows is not None:
            inside = (ids >= 0) & (ids < len(self.rows))
            at = np.where(inside, self.rows[np.where(inside, ids, 0)], -1)
        else:
            at = np.searchsorted(self.ids, ids)
            known = at < len(self.ids)
            known[known] = self.ids[at[known]] == ids[known]
            at = np.where(known, at, -1)
        return [self.columns[column].take(at, allow_fill=True) for column in columns]


LABELS: dict[str, tuple[str, Callable[[Dashboard], Labels]]] = {  # id column -> (dimension, its labels)
    "store_id": ("dim_store", lambda db: Labels(stores(db)[["id", "name"]])),
    "category_id": ("dim_category", lambda db: Labels(category_tree(db)[["id", "label", "department"]])),
    "product_id": ("dim_product", lambda db: Labels(product_labels(db))),
    "warehouse_id": ("dim_store", lambda db: Labels(_warehouse_stores(db))),
}


@query("dim_store")
def warehouse_names(db: Dashboard) -> pd.DataFrame:
    return db.sql("warehouse_names", f"SELECT warehouse_id AS id, name FROM {WAREHOUSE_STORE} ORDER BY id", {})


def _warehouse_stores(db: Dashboard) -> pd.DataFrame:
    """Per warehouse (``id``): its store's name (:data:`WAREHOUSE_STORE`), and ``rank``: the
    order of that name among them (DuckDB's: by bytes, nulls last)."""
    frame = warehouse_names(db)
    return frame.assign(rank=frame["name"].rank(method="dense", na_option="bottom").astype("int64"))


def labels_of(db: Dashboard, ids: Any, column: str, *labels: str) -> list[Any]:
    """The ``labels`` of ``ids`` (of the dimension of the id column ``column``; null where
    unknown or null), from the dimension's labels kept per version of its file."""
    table, build = LABELS[column]
    if isinstance(ids, np.ma.MaskedArray):
        ids = np.ma.filled(ids.astype(np.int64), -1)
    elif isinstance(ids, pd.api.extensions.ExtensionArray):
        ids = ids.to_numpy(np.int64, na_value=-1)
    found = db.lookup(table, build)
    return found.of(np.asarray(ids, dtype=np.int64), *labels)
