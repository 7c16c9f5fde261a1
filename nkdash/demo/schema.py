"""The models and fields the demo Odoo serves, per Odoo version (16, 17, 18, 19).

Names, types and selections follow real Odoo; only the fields nkdash and ordinary
clients need are declared. Version differences (see ARCHITECTURE.md, *Odoo versions*):

- stock.move done quantity: ``quantity_done`` in 16, ``quantity`` from 17.
- product storable: ``detailed_type == 'product'`` in 16/17, ``is_storable`` from 18.
- pos.order state ``invoiced`` exists in 16-18, not in 19 (invoiced orders stay ``done``).
- stock.valuation.layer exists in 16-18, not in 19.
"""

from __future__ import annotations

from typing import TypedDict

from nkdash.demo.store import Database, Field, m2o, o2m


def sel(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple((v, v.replace("_", " ").title()) for v in values)


class _Aggregated(TypedDict):
    aggregator: str


F = Field
MONEY: _Aggregated = {"aggregator": "sum"}


def define_models(db: Database) -> None:
    v = db.version
    db.define(
        "res.currency",
        {
            "name": F("char", "Currency", required=True),
            "symbol": F("char", "Symbol"),
            "position": F("selection", "Symbol Position", selection=sel("after", "before")),
            "decimal_places": F("integer", "Decimal Places"),
        },
    )
    db.define(
        "res.lang",
        {
            "name": F("char", "Name", required=True),
            "code": F("char", "Locale Code", required=True),
            "date_format": F("char", "Date Format"),
            "time_format": F("char", "Time Format"),
            "decimal_point": F("char", "Decimal Separator"),
            "thousands_sep": F("char", "Thousands Separator"),
            "active": F("boolean", "Active"),
        },
    )
    db.define(  # system parameters: database.uuid names the database (readable by administrators only)
        "ir.config_parameter",
        {"key": F("char", "Key", required=True), "value": F("text", "Value", required=True)},
        rec_name="key",
        description="System Parameter",
    )
    db.define(
        "res.company",
        {
            "name": F("char", "Company Name", required=True),
            "currency_id": m2o("res.currency", "Currency"),
            "partner_id": m2o("res.partner", "Partner"),
        },
    )
    db.define(
        "res.partner",
        {
            "name": F("char", "Name"),
            "ref": F("char", "Reference"),
            "email": F("char", "Email"),
            "city": F("char", "City"),
            "is_company": F("boolean", "Is a Company"),
            "customer_rank": F("integer", "Customer Rank"),
            "supplier_rank": F("integer", "Supplier Rank"),
            "parent_id": m2o("res.partner", "Related Company"),
            "company_id": m2o("res.company", "Company"),
            "lang": F("selection", "Language", selection=(("en_US", "English (US)"), ("en_GB", "English (UK)"))),
            "active": F("boolean", "Active"),
        },
        rec_name="name",
    )
    db.define(
        "res.users",
        {
            "name": F("char", "Name"),
            "login": F("char", "Login", required=True),
            "tz": F("char", "Timezone"),
            "partner_id": m2o("res.partner", "Related Partner"),
            "company_id": m2o("res.company", "Company"),
            "active": F("boolean", "Active"),
        },
    )
    db.define(
        "product.category",
        {
            "name": F("char", "Name", required=True),
            "complete_name": F("char", "Complete Name"),
            "parent_id": m2o("product.category", "Parent Category"),
            "parent_path": F("char", "Parent Path"),
            "child_id": o2m("product.category", "parent_id", "Child Categories"),
        },
        rec_name="complete_name",
    )
    db.define("product.template", {"name": F("char", "Name", required=True), "active": F("boolean", "Active")})
    product = {
        "name": F("char", "Name", required=True),
        "product_tmpl_id": m2o("product.template", "Product Template", required=True),
        "default_code": F("char", "Internal Reference"),
        "barcode": F("char", "Barcode"),
        "categ_id": m2o("product.category", "Product Category", required=True),
        "list_price": F("float", "Sales Price"),
        "standard_price": F("float", "Cost"),
        "sale_ok": F("boolean", "Can be Sold"),
        "purchase_ok": F("boolean", "Can be Purchased"),
        "available_in_pos": F("boolean", "Available in POS"),
        "active": F("boolean", "Active"),
    }
    if v <= 17:
        product["detailed_type"] = F("selection", "Product Type", selection=sel("consu", "service", "product"))
        product["type"] = F("selection", "Type", selection=sel("consu", "service", "product"))
    else:
        product["type"] = F("selection", "Product Type", selection=sel("consu", "service", "combo"))
        product["is_storable"] = F("boolean", "Track Inventory")
    db.define("product.product", product)
    db.define(
        "product.supplierinfo",
        {
            "partner_id": m2o("res.partner", "Vendor", required=True),
            "product_tmpl_id": m2o("product.template", "Product Template"),
            "product_id": m2o("product.product", "Product Variant"),
            "sequence": F("integer", "Sequence"),
            "min_qty": F("float", "Quantity"),
            "price": F("float", "Price"),
            "delay": F("integer", "Delivery Lead Time"),
        },
        rec_name="id",
    )
    db.define(
        "stock.warehouse",
        {
            "name": F("char", "Warehouse", required=True),
            "code": F("char", "Short Name"),
            "lot_stock_id": m2o("stock.location", "Location Stock"),
            "view_location_id": m2o("stock.location", "View Location"),
            "active": F("boolean", "Active"),
        },
    )
    db.define(
        "stock.location",
        {
            "name": F("char", "Location Name", required=True),
            "complete_name": F("char", "Full Location Name"),
            "usage": F(
                "selection",
                "Location Type",
                selection=sel("supplier", "view", "internal", "customer", "inventory", "production", "transit"),
            ),
            "location_id": m2o("stock.location", "Parent Location"),
            "warehouse_id": m2o("stock.warehouse", "Warehouse"),
            "scrap_location": F("boolean", "Is a Scrap Location?"),
            "active": F("boolean", "Active"),
        },
        rec_name="complete_name",
    )
    db.define(
        "stock.picking.type",
        {
            "name": F("char", "Operation Type", required=True),
            "code": F(
                "selection", "Type of Operation", selection=sel("incoming", "outgoing", "internal", "mrp_operation")
            ),
            "warehouse_id": m2o("stock.warehouse", "Warehouse"),
            "default_location_src_id": m2o("stock.location", "Default Source Location"),
            "default_location_dest_id": m2o("stock.location", "Default Destination Location"),
            "active": F("boolean", "Active"),
        },
    )
    db.define(
        "pos.config",
        {
            "name": F("char", "Point of Sale", required=True),
            "picking_type_id": m2o("stock.picking.type", "Operation Type"),
            "warehouse_id": m2o("stock.warehouse", "Warehouse"),
            "company_id": m2o("res.company", "Company"),
            "active": F("boolean", "Active"),
        },
    )
    db.define(
        "pos.session",
        {
            "name": F("char", "Session ID", required=True),
            "config_id": m2o("pos.config", "Point of Sale"),
            "user_id": m2o("res.users", "Opened By"),
            "state": F("selection", "Status", selection=sel("opening_control", "opened", "closing_control", "closed")),
            "start_at": F("datetime", "Opening Date"),
            "stop_at": F("datetime", "Closing Date"),
        },
    )
    pos_states = ("draft", "cancel", "paid", "done", "invoiced") if v <= 18 else ("draft", "cancel", "paid", "done")
    db.define(
        "pos.order",
        {
            "name": F("char", "Order Ref", required=True),
            "pos_reference": F("char", "Receipt Number"),
            "session_id": m2o("pos.session", "Session"),
            "config_id": m2o("pos.config", "Point of Sale"),
            "company_id": m2o("res.company", "Company"),
            "partner_id": m2o("res.partner", "Customer"),
            "user_id": m2o("res.users", "Employee"),
            "date_order": F("datetime", "Date"),
            "state": F("selection", "Status", selection=sel(*pos_states)),
            "amount_tax": F("float", "Taxes", **MONEY),
            "amount_total": F("float", "Total", **MONEY),
            "amount_paid": F("float", "Paid", **MONEY),
            "amount_return": F("float", "Returned", **MONEY),
            "account_move": m2o("account.move", "Invoice"),
            "is_invoiced": F("boolean", "Is Invoiced"),
            "lines": o2m("pos.order.line", "order_id", "Order Lines"),
        },
    )
    db.define(
        "pos.order.line",
        {
            "name": F("char", "Line No"),
            "full_product_name": F("char", "Full Product Name"),
            "order_id": m2o("pos.order", "Order Ref", required=True),
            "product_id": m2o("product.product", "Product", required=True),
            "qty": F("float", "Quantity", **MONEY),
            "price_unit": F("float", "Unit Price"),
            "discount": F("float", "Discount (%)"),
            "price_subtotal": F("float", "Tax Excl.", **MONEY),
            "price_subtotal_incl": F("float", "Tax Incl.", **MONEY),
            "total_cost": F("float", "Total cost", **MONEY),
            "is_total_cost_computed": F("boolean", "Total Cost Computed"),
            "refunded_orderline_id": m2o("pos.order.line", "Refunded Order Line"),
        },
    )
    db.define(
        "account.move",
        {
            "name": F("char", "Number"),
            "move_type": F(
                "selection",
                "Type",
                selection=sel(
                    "entry", "out_invoice", "out_refund", "in_invoice", "in_refund", "out_receipt", "in_receipt"
                ),
            ),
            "state": F("selection", "Status", selection=sel("draft", "posted", "cancel")),
            "partner_id": m2o("res.partner", "Partner"),
            "company_id": m2o("res.company", "Company"),
            "currency_id": m2o("res.currency", "Currency"),
            "date": F("date", "Date"),
            "invoice_date": F("date", "Invoice/Bill Date"),
            "invoice_origin": F("char", "Origin"),
            "amount_untaxed": F("monetary", "Untaxed Amount", **MONEY),
            "amount_tax": F("monetary", "Tax", **MONEY),
            "amount_total": F("monetary", "Total", **MONEY),
            "amount_untaxed_signed": F("monetary", "Untaxed Amount Signed", **MONEY),
            "amount_total_signed": F("monetary", "Total Signed", **MONEY),
            "reversed_entry_id": m2o("account.move", "Reversal of"),
            "pos_order_ids": o2m("pos.order", "account_move", "POS Orders"),
            "line_ids": o2m("account.move.line", "move_id", "Journal Items"),
            "invoice_line_ids": o2m("account.move.line", "move_id", "Invoice lines"),
        },
    )
    db.define(
        "account.move.line",
        {
            "name": F("char", "Label"),
            "move_id": m2o("account.move", "Journal Entry", required=True),
            "move_type": F(
                "selection",
                "Type",
                selection=sel(
                    "entry", "out_invoice", "out_refund", "in_invoice", "in_refund", "out_receipt", "in_receipt"
                ),
            ),
            "parent_state": F("selection", "Status", selection=sel("draft", "posted", "cancel")),
            "date": F("date", "Date"),
            "partner_id": m2o("res.partner", "Partner"),
            "company_id": m2o("res.company", "Company"),
            "product_id": m2o("product.product", "Product"),
            "display_type": F(
                "selection",
                "Display Type",
                selection=sel(
                    "product", "cogs", "tax", "discount", "rounding", "payment_term", "line_section", "line_note", "epd"
                ),
            ),
            "quantity": F("float", "Quantity", **MONEY),
            "price_unit": F("float", "Unit Price"),
            "discount": F("float", "Discount (%)"),
            "price_subtotal": F("monetary", "Subtotal", **MONEY),
            "price_total": F("monetary", "Total", **MONEY),
            "balance": F("monetary", "Balance", **MONEY),
            "debit": F("monetary", "Debit", **MONEY),
            "credit": F("monetary", "Credit", **MONEY),
        },
        rec_name="name",
    )
    db.define(
        "purchase.order",
        {
            "name": F("char", "Order Reference", required=True),
            "partner_id": m2o("res.partner", "Vendor", required=True),
            "company_id": m2o("res.company", "Company"),
            "currency_id": m2o("res.currency", "Currency"),
            "picking_type_id": m2o("stock.picking.type", "Deliver To"),
            "state": F(
                "selection", "Status", selection=sel("draft", "sent", "to approve", "purchase", "done", "cancel")
            ),
            "date_order": F("datetime", "Order Deadline"),
            "date_approve": F("datetime", "Confirmation Date"),
            "date_planned": F("datetime", "Expected Arrival"),
            "effective_date": F("datetime", "Arrival"),
            "invoice_status": F("selection", "Billing Status", selection=sel("no", "to invoice", "invoiced")),
            "amount_untaxed": F("monetary", "Untaxed Amount", **MONEY),
            "amount_tax": F("monetary", "Taxes", **MONEY),
            "amount_total": F("monetary", "Total", **MONEY),
            "order_line": o2m("purchase.order.line", "order_id", "Order Lines"),
        },
    )
    db.define(
        "purchase.order.line",
        {
            "name": F("text", "Description"),
            "order_id": m2o("purchase.order", "Order Reference", required=True),
            "partner_id": m2o("res.partner", "Partner"),
            "state": F(
                "selection", "Status", selection=sel("draft", "sent", "to approve", "purchase", "done", "cancel")
            ),
            "display_type": F("selection", "Display Type", selection=sel("line_section", "line_note")),
            "product_id": m2o("product.product", "Product"),
            "product_qty": F("float", "Quantity", **MONEY),
            "qty_received": F("float", "Received Qty", **MONEY),
            "qty_invoiced": F("float", "Billed Qty", **MONEY),
            "price_unit": F("float", "Unit Price"),
            "price_subtotal": F("monetary", "Subtotal", **MONEY),
            "price_total": F("monetary", "Total", **MONEY),
            "date_planned": F("datetime", "Expected Arrival"),
        },
    )
    db.define(
        "stock.picking",
        {
            "name": F("char", "Reference"),
            "origin": F("char", "Source Document"),
            "picking_type_id": m2o("stock.picking.type", "Operation Type"),
            "partner_id": m2o("res.partner", "Contact"),
            "location_id": m2o("stock.location", "Source Location"),
            "location_dest_id": m2o("stock.location", "Destination Location"),
            "state": F(
                "selection", "Status", selection=sel("draft", "waiting", "confirmed", "assigned", "done", "cancel")
            ),
            "scheduled_date": F("datetime", "Scheduled Date"),
            "date_done": F("datetime", "Date of Transfer"),
        },
    )
    move = {
        "name": F("char", "Description"),
        "reference": F("char", "Reference"),
        "origin": F("char", "Source Document"),
        "product_id": m2o("product.product", "Product", required=True),
        "product_uom_qty": F("float", "Demand", **MONEY),
        "location_id": m2o("stock.location", "Source Location", required=True),
        "location_dest_id": m2o("stock.location", "Destination Location", required=True),
        "state": F(
            "selection",
            "Status",
            selection=sel("draft", "waiting", "confirmed", "partially_available", "assigned", "done", "cancel"),
        ),
        "date": F("datetime", "Date Scheduled"),
        "picking_id": m2o("stock.picking", "Transfer"),
        "picking_type_id": m2o("stock.picking.type", "Operation Type"),
        "purchase_line_id": m2o("purchase.order.line", "Purchase Order Line"),
        "price_unit": F("float", "Unit Price"),
        "scrapped": F("boolean", "Scrapped"),
        "is_inventory": F("boolean", "Inventory"),
        "company_id": m2o("res.company", "Company"),
    }
    move["quantity_done" if v == 16 else "quantity"] = F("float", "Quantity", **MONEY)
    db.define("stock.move", move)
    db.define(
        "stock.quant",
        {
            "product_id": m2o("product.product", "Product", required=True),
            "location_id": m2o("stock.location", "Location", required=True),
            "company_id": m2o("res.company", "Company"),
            "quantity": F("float", "Quantity", **MONEY),
            "reserved_quantity": F("float", "Reserved Quantity", **MONEY),
            "in_date": F("datetime", "Incoming Date"),
        },
        rec_name="id",
    )
    if v <= 18:
        db.define(
            "stock.valuation.layer",
            {
                "product_id": m2o("product.product", "Product", required=True),
                "stock_move_id": m2o("stock.move", "Stock Move"),
                "company_id": m2o("res.company", "Company"),
                "description": F("char", "Description"),
                "quantity": F("float", "Quantity", **MONEY),
                "unit_cost": F("monetary", "Unit Value"),
                "value": F("monetary", "Total Value", **MONEY),
            },
            rec_name="description",
        )
