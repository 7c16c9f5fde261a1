import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Purchases")


@app.cell
def _():
    import marimo as mo

    from nkdash import dashboards as dash
    from nkdash.dashboards import charts, controls

    return charts, controls, dash, mo


@app.cell
def _(controls, dash):
    db, page = dash.open_dashboard(), controls.PAGES["purchases"]
    picker, grain, _sidebar = controls.sidebar(db, page)
    _sidebar
    return db, grain, page, picker


@app.cell
def _(controls, db, page, picker):
    requested = controls.filters(picker)
    controls.freshness(db, page, requested)
    return (requested,)


@app.cell
def _(controls, db, mo, page, requested):
    _empty = controls.empty_state(db, page, requested)
    mo.stop(_empty is not None, _empty)
    filters = requested
    return (filters,)


@app.cell
def _(filters, mo):
    mo.md(f"# Purchases\n{filters.describe()}, by order confirmation date. Amounts untaxed; "
          "received and invoiced values at the order's unit price.")
    return


@app.cell
def _(charts, dash, db, filters, mo):
    summary = dash.purchases_summary(db, filters)
    mo.hstack([mo.stat(**card) for card in charts.summary_cards(summary, {
        "spend": "Spend", "orders": "Orders", "vendors": "Vendors", "received_pct": "Received",
        "invoiced_pct": "Invoiced", "open_value": "Still to receive",
    })], wrap=True, justify="start")
    return


@app.cell
def _(charts, dash, db, filters, mo):
    by_vendor = dash.purchases_by(db, filters, "vendor")
    vendor_chart = mo.ui.altair_chart(
        charts.bars(by_vendor, "spend", "vendor", tooltip=["spend", "orders", "received_pct", "invoiced_pct"]),
        chart_selection="point", legend_selection=False, label="Spend by vendor (click: its open lines)")
    return by_vendor, vendor_chart


@app.cell
def _(charts, dash, db, filters, mo):
    by_category = dash.purchases_by(db, filters, "category")
    category_chart = mo.ui.altair_chart(
        charts.bars(by_category, "spend", "category", color="department", tooltip=["spend", "orders", "lines"]),
        chart_selection=False, legend_selection=True, label="Spend by category")
    return by_category, category_chart


@app.cell
def _(category_chart, mo, vendor_chart):
    mo.hstack([vendor_chart, category_chart], widths="equal")
    return


@app.cell
def _(charts, dash, db, filters, grain, mo):
    stages = dash.purchase_fulfilment(db, filters, grain.value)
    mo.vstack([mo.md("### Ordered vs received vs invoiced"),
               mo.ui.altair_chart(charts.fulfilment(stages), chart_selection=False)])
    return


@app.cell
def _(dash, db, filters, vendor_chart):
    vendors = dash.selected_ids(vendor_chart.value, "vendor_id")
    still_open = dash.open_purchases(db, filters, vendors)
    return still_open, vendors


@app.cell
def _(by_category, by_vendor, charts, mo, still_open, vendors):
    mo.ui.tabs({
        f"Open lines ({len(still_open)}{', selected vendor' if vendors else ''})":
            mo.ui.table(still_open, **charts.table_args(still_open)),
        "By vendor": mo.ui.table(by_vendor, **charts.table_args(by_vendor)),
        "By category": mo.ui.table(by_category, **charts.table_args(by_category)),
    })
    return


if __name__ == "__main__":
    app.run()
