"""Who a page is made for, and what of the answers they may see.

The operator sees everything. The viewer sees cost and margin unless the operator turns it
off (``NKDASH_VIEWER_SEES_COST=false``); then every answer made for a viewer goes through
:meth:`Audience.shown`, which drops the columns and KPI rows that carry or reveal cost:
cost, margin, margin %, the share of margin, stock valued at cost, and purchase amounts
(what the shop pays its vendors is the cost of the goods). Revenue, discounts, units,
orders, quantities, ratios and dates stay.

Where the role comes from: ``nkdash serve``'s gate identifies each request from its session
cookie (or HTTP Basic) and puts the user in the ASGI scope (``scope["user"]``: name and
role) before marimo sees the request; marimo hands it to the notebook's kernel as
``mo.app_meta().request.user`` (:func:`nkdash.dashboards.controls.audience`). A browser can
change neither: the scope is built on the server for every request, whatever the request
says, and the notebook computes and strips its answers on the server before anything is
sent (tables, chart data, downloads).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from nkdash.settings import Settings, get_settings

Role = Literal["viewer", "operator"]


COST_COLUMNS = frozenset(
    {
        "cost",
        "margin",
        "margin_pct",
        "margin_share",
        "value",  # stock valued at the product's cost
        "slow_value",
        "dead_value",
        "stock_value",
        "spend",  # purchase amounts: what the shop pays is the goods' cost
        "open_value",
        "ordered_value",
        "received_value",
        "invoiced_value",
        "price_unit",
        "standard_price",
    }
)


@dataclass(frozen=True)
class Audience:
    """The role a page is made for and whether it may see cost and margin."""

    role: Role = "operator"
    sees_cost: bool = True

    def shows(self, column: str) -> bool:
        return self.sees_cost or column not in COST_COLUMNS

    def shown(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` without what this audience may not see: cost columns, and the rows of a
        comparison (a ``metric`` column) whose metric is one. The frame itself when it may see all."""
        if self.sees_cost:
            return frame
        out = frame.drop(columns=[c for c in frame.columns if c in COST_COLUMNS])
        if "metric" in out.columns:
            out = out[~out["metric"].isin(COST_COLUMNS)].reset_index(drop=True)
        return out


OPERATOR = Audience()


def audience_of(user: Mapping[str, Any] | None, settings: Settings | None = None) -> Audience:
    """The audience of a request's ``user`` (what the gate put in the scope).

    No user at all (a notebook run outside ``nkdash serve``: a script, a test, ``marimo
    export``) is a local user, an operator, as with ``nkdash serve --no-auth``. A user the
    gate did not mark operator is a viewer."""
    settings = settings or get_settings()
    if user is None:
        return OPERATOR
    if user.get("role") == "operator":
        return OPERATOR
    return Audience("viewer", settings.viewer_sees_cost)
