import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Profit")


@app.cell
def _():
    import marimo as mo

    from nkdash import dashboards as dash
    from nkdash.dashboards import charts, controls, tables

    return charts, controls, dash, mo, tables


@app.cell
def _(controls, dash, mo):
    db, page = dash.open_dashboard(), controls.PAGES["profit"]
    top_n = mo.ui.slider(5, 25, step=5, value=10, show_value=True, label="Top / bottom products")
    picker, grain, _sidebar = controls.sidebar(db, page, top_n)
    _sidebar
    return db, grain, page, picker, top_n


@app.cell
def _(controls, dash, db, page, picker):
    requested, fmt, who = controls.filters(picker), dash.page_formats(db), controls.audience()
    controls.freshness(db, page, requested, fmt)
    return fmt, requested, who


@app.cell
def _(controls, db, fmt, mo, page, requested, who):
    _empty = controls.empty_state(db, page, requested, fmt)
    mo.stop(_empty is not None, _empty)
    mo.stop(not who.sees_cost, mo.callout(mo.md(
        "**Cost and margin are not shown to viewers here** (the operator's setting `NKDASH_VIEWER_SEES_COST`). "
        "The Sales page shows revenue, orders and units."), kind="info"))
    filters = requested
    return (filters,)


@app.cell
def _(controls, db, filters, fmt, mo):
    mo.md(f"# Profit\n{controls.describe(db, filters, fmt)}. Margin = revenue − cost of the goods sold, "
          f"untaxed, in {fmt.currency}.")
    return


@app.cell
def _(controls, dash, db, filters, fmt, who):
    controls.kpis(dash.profit_comparison(db, filters), fmt, who)
    return


@app.cell
def _(dash, db, filters, grain):
    trend = dash.profit_trend(db, filters, grain.value)
    return (trend,)


@app.cell
def _(charts, controls, fmt, grain, mo, trend):
    _note = (" " + charts.PARTIAL_NOTE) if grain.value != "day" else ""
    controls.row(
        mo.vstack([controls.section(f"Margin by {grain.value}", f"Revenue minus the cost of the goods sold.{_note}"),
                   controls.chart(charts.trend(trend, "margin", fmt, grain.value))]),
        mo.vstack([controls.section(f"Margin % by {grain.value}", "Margin as a share of revenue."),
                   controls.chart(charts.trend(trend, "margin_pct", fmt, grain.value))]),
    )
    return


@app.cell
def _(charts, controls, dash, db, filters, fmt, mo):
    by_store = dash.profit_by(db, filters, "store").dropna(subset=["store_id"])  # invoices: not a store
    by_category = dash.profit_by(db, filters, "category")
    controls.row(
        mo.vstack([controls.section("Margin by store", "Margin of each store's point-of-sale sales."),
                   controls.chart(charts.bars(by_store, "margin", "store", fmt, tooltip=["margin", "margin_pct", "revenue"]))]),
        mo.vstack([controls.section("Categories: revenue against margin %",
                                    "Each point a category; big sellers with thin margins sit low on the right."),
                   controls.chart(charts.margin_map(by_category, "category", fmt))]),
    )
    return by_category, by_store


@app.cell
def _(dash, db, filters, top_n):
    extremes = dash.top_products(db, filters, top_n.value)
    losing = dash.losing_products(db, filters)
    by_product = dash.profit_by(db, filters, "product")
    return by_product, extremes, losing


@app.cell
def _(charts, controls, extremes, fmt, mo, top_n):
    mo.vstack([
        controls.section("Products by margin", "The products that earned the most and the least margin "
                         "(each list on its own scale)."),
        controls.row(
            mo.vstack([mo.md(f"**Top {top_n.value}**"), controls.chart(charts.ranked(extremes, "margin", "product", fmt, "top"))]),
            mo.vstack([mo.md(f"**Bottom {top_n.value}**"), controls.chart(charts.ranked(extremes, "margin", "product", fmt, "bottom"))]),
        ),
    ])
    return


@app.cell
def _(controls, fmt, losing, mo, tables):
    mo.vstack([
        controls.section(f"Products sold at a loss ({len(losing)})",
                         "Products whose margin in the period is below zero: sold under their cost."),
        tables.table(losing, fmt, ["product", "code", "category", "units", "revenue", "cost", "margin", "margin_pct"])
        if len(losing) else mo.md("*No product was sold at a loss in this period.*"),
    ])
    return


@app.cell
def _(by_category, by_product, by_store, fmt, mo, tables):
    mo.ui.tabs({
        "By product": tables.table(by_product, fmt, ["product", "code", "category", "units", "revenue", "cost",
                                                     "margin", "margin_pct", "margin_share"]),
        "By category": tables.table(by_category, fmt, ["category", "department", "units", "revenue", "cost", "margin",
                                                       "margin_pct", "margin_share"]),
        "By store": tables.table(by_store, fmt, ["store", "units", "revenue", "cost", "margin", "margin_pct",
                                                 "margin_share"]),
    })
    return


if __name__ == "__main__":
    app.run()
