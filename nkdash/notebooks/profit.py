import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Profit")


@app.cell
def _():
    import marimo as mo

    from nkdash import dashboards as dash
    from nkdash.dashboards import charts, controls

    return charts, controls, dash, mo


@app.cell
def _(controls, dash, mo):
    db, page = dash.open_dashboard(), controls.PAGES["profit"]
    top_n = mo.ui.slider(5, 25, step=5, value=10, show_value=True, label="Top / bottom products")
    picker, grain, _sidebar = controls.sidebar(db, page, top_n)
    _sidebar
    return db, grain, page, picker, top_n


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
    mo.md(f"# Profit\n{filters.describe()}. Margin = revenue − cost of the goods sold (untaxed).")
    return


@app.cell
def _(charts, dash, db, filters, mo):
    kpis = dash.sales_comparison(db, filters, metrics=("revenue", "margin", "margin_pct", "units"))
    mo.hstack([mo.stat(**card) for card in charts.kpi_cards(kpis, filters)], wrap=True, justify="start")
    return


@app.cell
def _(dash, db, filters, grain):
    trend = dash.profit_trend(db, filters, grain.value)
    return (trend,)


@app.cell
def _(charts, grain, mo, trend):
    mo.hstack([mo.ui.altair_chart(charts.trend(trend, "margin", grain=grain.value), chart_selection=False,
                                  label=f"Margin by {grain.value}"),
               mo.ui.altair_chart(charts.trend(trend, "margin_pct", grain=grain.value), chart_selection=False,
                                  label=f"Margin % by {grain.value}")], widths="equal")
    return


@app.cell
def _(charts, dash, db, filters, mo):
    by_store = dash.profit_by(db, filters, "store")
    store_chart = mo.ui.altair_chart(
        charts.bars(by_store, "margin", "store", tooltip=["margin", "margin_pct", "revenue"]),
        chart_selection=False, legend_selection=False, label="Margin by store")
    return by_store, store_chart


@app.cell
def _(charts, dash, db, filters, mo):
    by_category = dash.profit_by(db, filters, "category")
    category_chart = mo.ui.altair_chart(
        charts.margin_map(by_category, "category"), chart_selection="point", legend_selection=True,
        label="Categories: revenue vs margin % (click: list products)")
    return by_category, category_chart


@app.cell
def _(category_chart, mo, store_chart):
    mo.hstack([store_chart, category_chart], widths=[2, 3])
    return


@app.cell
def _(category_chart, dash, filters):
    picked = dash.selected_ids(category_chart.value, "category_id")
    product_filters = filters.with_categories(picked) if picked else filters
    return (product_filters,)


@app.cell
def _(dash, db, product_filters, top_n):
    extremes = dash.top_products(db, product_filters, top_n.value)
    return (extremes,)


@app.cell
def _(charts, extremes, mo, product_filters):
    mo.vstack([mo.md(f"### Top and bottom products by margin · {product_filters.describe()}"),
               mo.ui.altair_chart(charts.bars(extremes, "margin", "product", color="rank",
                                              tooltip=["margin", "margin_pct", "revenue", "units"]),
                                  chart_selection=False)])
    return


@app.cell
def _(dash, db, product_filters):
    by_product = dash.profit_by(db, product_filters, "product")
    return (by_product,)


@app.cell
def _(by_category, by_product, by_store, charts, mo):
    mo.ui.tabs({
        "By product": mo.ui.table(by_product, **charts.table_args(by_product)),
        "By category": mo.ui.table(by_category, **charts.table_args(by_category)),
        "By store": mo.ui.table(by_store, **charts.table_args(by_store)),
    })
    return


if __name__ == "__main__":
    app.run()
