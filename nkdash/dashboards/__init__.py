"""The dashboards' queries: one module per page over a shared query engine (see ARCHITECTURE.md)."""

from nkdash.dashboards.engine import Dashboard, open_dashboard
from nkdash.dashboards.filters import Filters, Grain
from nkdash.dashboards.inventory import (
    inventory_summary,
    slow_movers,
    stock_date,
    stock_levels,
    stock_moves,
    stock_outs,
)
from nkdash.dashboards.labels import category_tree, stores
from nkdash.dashboards.options import (
    category_options,
    date_bounds,
    default_period,
    selectable_range,
    selected_ids,
    store_options,
)
from nkdash.dashboards.profit import profit_by, profit_trend, top_products
from nkdash.dashboards.purchases import open_purchases, purchase_fulfilment, purchases_by, purchases_summary
from nkdash.dashboards.sales import sales_by_channel, sales_by_store, sales_comparison, sales_summary, sales_trend
from nkdash.dashboards.sql import periods
from nkdash.dashboards.status import damaged, freshness_badge, has_inventory, has_purchases, has_sales, no_data
from nkdash.etl.datasets.inventory import MOVE_KINDS

__all__ = [
    "MOVE_KINDS",
    "Dashboard",
    "Filters",
    "Grain",
    "category_options",
    "category_tree",
    "damaged",
    "date_bounds",
    "default_period",
    "freshness_badge",
    "has_inventory",
    "has_purchases",
    "has_sales",
    "inventory_summary",
    "no_data",
    "open_dashboard",
    "open_purchases",
    "periods",
    "profit_by",
    "profit_trend",
    "purchase_fulfilment",
    "purchases_by",
    "purchases_summary",
    "sales_by_channel",
    "sales_by_store",
    "sales_comparison",
    "sales_summary",
    "sales_trend",
    "selectable_range",
    "selected_ids",
    "slow_movers",
    "stock_date",
    "stock_levels",
    "stock_moves",
    "stock_outs",
    "store_options",
    "stores",
    "top_products",
]
