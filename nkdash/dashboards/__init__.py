"""The dashboards' queries: one module per page over a shared query engine (see ARCHITECTURE.md)."""

from nkdash.dashboards.audience import Audience, audience_of
from nkdash.dashboards.compare import Comparison, Coverage, Kpi, coverage, period_of
from nkdash.dashboards.engine import Dashboard, open_dashboard
from nkdash.dashboards.filters import Filters, Grain
from nkdash.dashboards.formats import Formats, page_formats
from nkdash.dashboards.inventory import (
    inventory_summary,
    slow_movers,
    stock_date,
    stock_levels,
    stock_moves,
    stock_outs,
)
from nkdash.dashboards.labels import category_tree, company, currencies, stores
from nkdash.dashboards.options import (
    category_options,
    date_bounds,
    default_period,
    selectable_range,
    selected_ids,
    store_options,
)
from nkdash.dashboards.profit import losing_products, profit_by, profit_comparison, profit_trend, top_products
from nkdash.dashboards.purchases import (
    open_purchases,
    purchase_fulfilment,
    purchases_by,
    purchases_comparison,
    purchases_summary,
    vendor_performance,
)
from nkdash.dashboards.sales import (
    discount_summary,
    hour_coverage,
    sales_by_channel,
    sales_by_hour,
    sales_by_store,
    sales_comparison,
    sales_discounts,
    sales_summary,
    sales_trend,
    sales_trend_against,
)
from nkdash.dashboards.sql import periods
from nkdash.dashboards.status import damaged, freshness_badge, has_inventory, has_purchases, has_sales, no_data
from nkdash.dashboards.stock import (
    abc_classes,
    abc_summary,
    inventory_comparison,
    on_order,
    sell_through,
    stock_cover,
    with_on_order,
)
from nkdash.etl.datasets.inventory import MOVE_KINDS

__all__ = [
    "MOVE_KINDS",
    "Audience",
    "Comparison",
    "Coverage",
    "Dashboard",
    "Filters",
    "Formats",
    "Grain",
    "Kpi",
    "abc_classes",
    "abc_summary",
    "audience_of",
    "category_options",
    "category_tree",
    "company",
    "coverage",
    "currencies",
    "damaged",
    "date_bounds",
    "default_period",
    "discount_summary",
    "freshness_badge",
    "has_inventory",
    "has_purchases",
    "has_sales",
    "hour_coverage",
    "inventory_comparison",
    "inventory_summary",
    "losing_products",
    "no_data",
    "on_order",
    "open_dashboard",
    "open_purchases",
    "page_formats",
    "period_of",
    "periods",
    "profit_by",
    "profit_comparison",
    "profit_trend",
    "purchase_fulfilment",
    "purchases_by",
    "purchases_comparison",
    "purchases_summary",
    "sales_by_channel",
    "sales_by_hour",
    "sales_by_store",
    "sales_comparison",
    "sales_discounts",
    "sales_summary",
    "sales_trend",
    "sales_trend_against",
    "selectable_range",
    "selected_ids",
    "sell_through",
    "slow_movers",
    "stock_cover",
    "stock_date",
    "stock_levels",
    "stock_moves",
    "stock_outs",
    "store_options",
    "stores",
    "top_products",
    "vendor_performance",
    "with_on_order",
]
