import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Purchases")


@app.cell
def _():
    import marimo as mo

    from nkdash import dashboards as dash
    from nkdash.dashboards import charts, controls, tables

    return charts, controls, dash, mo, tables


@app.cell
def _(controls, dash, mo):
    db, page, who = dash.open_dashboard(), controls.PAGES["purchases"], controls.audience()
    measure = mo.ui.radio({"Quantity": "qty", **({"Value": "value"} if who.sees_cost else {})},
                          value="Value" if who.sees_cost else "Quantity", inline=True, label="Measure")
    picker, grain, _sidebar = controls.sidebar(db, page, measure)
    _sidebar
    return db, grain, measure, page, picker, who


@app.cell
def _(controls, dash, db, page, picker):
    requested, fmt = controls.filters(picker), dash.page_formats(db)
    controls.freshness(db, page, requested, fmt)
    return fmt, requested


@app.cell
def _(controls, db, fmt, mo, page, requested):
    _empty = controls.empty_state(db, page, requested, fmt)
    mo.stop(_empty is not None, _empty)
    filters = requested
    return (filters,)


@app.cell
def _(controls, db, filters, fmt, mo, who):
    _amounts = f" Amounts untaxed, in {fmt.currency}, at the order's unit prices." if who.sees_cost else ""
    mo.md(f"# Purchases\n{controls.describe(db, filters, fmt)}, by order confirmation date.{_amounts}")
    return


@app.cell
def _(controls, dash, db, filters, fmt, who):
    controls.kpis(dash.purchases_comparison(db, filters), fmt, who)
    return


@app.cell
def _(charts, controls, dash, db, filters, fmt, mo, who):
    by_vendor = who.shown(dash.purchases_by(db, filters, "vendor"))
    by_category = who.shown(dash.purchases_by(db, filters, "category"))
    _x = "spend" if who.sees_cost else "ordered_qty"
    controls.row(
        mo.vstack([controls.section("By vendor", "What was ordered from each vendor in the period."),
                   controls.chart(charts.bars(by_vendor, _x, "vendor", fmt, tooltip=[_x, "orders", "received_pct", "invoiced_pct"]))]),
        mo.vstack([controls.section("By category", "What was ordered per category."),
                   controls.chart(charts.bars(by_category.head(15), _x, "category", fmt, color="department",
                               tooltip=[_x, "orders", "lines"]))]),
    )
    return by_category, by_vendor


@app.cell
def _(charts, controls, dash, db, filters, fmt, grain, measure, mo):
    stages = dash.purchase_fulfilment(db, filters, grain.value)
    _note = (" " + charts.PARTIAL_NOTE) if grain.value != "day" else ""
    mo.vstack([controls.section("Ordered, received and invoiced",
                                f"Per {grain.value} of the order's confirmation: what was ordered, what has been "
                                f"received and what the vendors have invoiced so far.{_note}"),
               controls.chart(charts.fulfilment(stages, fmt, grain.value, measure.value))])
    return


@app.cell
def _(controls, dash, db, filters, fmt, mo, tables):
    vendors = dash.vendor_performance(db, filters)
    mo.vstack([controls.section("Vendors: on time and lead time",
                                "On-time rate: of the orders received, those received by their expected date. "
                                "Lead time: average days from confirmation to the first receipt."),
               tables.table(vendors, fmt, ["vendor", "orders", "received_orders", "on_time", "on_time_rate",
                                           "lead_days", "overdue"])])
    return (vendors,)


@app.cell
def _(by_vendor, mo):
    pick = mo.ui.multiselect(dict(zip(by_vendor["vendor"], by_vendor["vendor_id"])), label="Vendors (none = all)")
    return (pick,)


@app.cell
def _(dash, db, filters, pick, who):
    still_open = who.shown(dash.open_purchases(db, filters, tuple(pick.value)))
    still_open = still_open.sort_values(["overdue", "expected"], ascending=[False, True], kind="stable")
    return (still_open,)


@app.cell
def _(controls, fmt, mo, pick, still_open, tables):
    mo.vstack([controls.section(f"Open lines ({len(still_open)}, {int(still_open['overdue'].sum())} overdue)",
                                "Lines of the orders confirmed in the period not fully received or invoiced; "
                                "overdue: still to receive and expected before the end of the period."),
               pick,
               tables.table(still_open, fmt, ["order_ref", "date", "vendor", "product", "code", "ordered_qty",
                                              "received_qty", "to_receive", "to_invoice", "expected", "overdue",
                                              "days_late", "open_value"])])
    return


@app.cell
def _(by_category, by_vendor, fmt, mo, tables):
    mo.ui.tabs({
        "By vendor": tables.table(by_vendor, fmt, ["vendor", "orders", "lines", "spend", "ordered_qty", "received_qty",
                                                   "invoiced_qty", "received_pct", "invoiced_pct"]),
        "By category": tables.table(by_category, fmt, ["category", "department", "orders", "lines", "spend",
                                                       "ordered_qty", "received_pct", "invoiced_pct"]),
    })
    return


if __name__ == "__main__":
    app.run()
