import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Inventory")


@app.cell
def _():
    import marimo as mo

    from nkdash import dashboards as dash
    from nkdash.dashboards import charts, controls

    return charts, controls, dash, mo


@app.cell
def _(controls, dash, mo):
    db, page = dash.open_dashboard(), controls.PAGES["inventory"]
    measure = mo.ui.radio({"Quantity": "qty", "Value": "value"}, value="Value", inline=True, label="Measure")
    picker, grain, _sidebar = controls.sidebar(db, page, measure)
    _sidebar
    return db, grain, measure, page, picker


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
def _(dash, db, filters, mo):
    stock_day = dash.stock_date(db, filters)
    mo.md(f"# Inventory\n{filters.describe()}. Stock as at the end of **{stock_day or 'no date in this period'}**; "
          "value = quantity × current product cost.")
    return (stock_day,)


@app.cell
def _(charts, dash, db, filters, mo, stock_day):
    summary = dash.inventory_summary(db, filters)
    mo.hstack([mo.stat(**card) for card in charts.summary_cards(summary, {
        "value": "Stock value", "qty": "Units on hand", "products": "Products in stock",
        "stock_outs": "Stock-outs", "slow_movers": "Slow movers", "slow_value": "Value of slow movers",
    }, caption=f"at {stock_day}")], wrap=True, justify="start")
    return


@app.cell
def _(charts, dash, db, filters, measure, mo):
    by_location = dash.stock_levels(db, filters, "location")
    location_chart = mo.ui.altair_chart(
        charts.bars(by_location, measure.value, "location", tooltip=["value", "qty", "products", "store"]),
        chart_selection=False, legend_selection=False, label="Stock by location")
    return by_location, location_chart


@app.cell
def _(charts, dash, db, filters, measure, mo):
    by_category = dash.stock_levels(db, filters, "category")
    category_chart = mo.ui.altair_chart(
        charts.bars(by_category, measure.value, "category", color="department", tooltip=["value", "qty", "products"]),
        chart_selection="point", legend_selection=False,
        label="Stock by category (click: narrow the details)")
    return by_category, category_chart


@app.cell
def _(category_chart, location_chart, mo):
    mo.hstack([location_chart, category_chart], widths=[2, 3])
    return


@app.cell
def _(dash, mo):
    kinds = mo.ui.multiselect(list(dash.MOVE_KINDS), label="Kinds of move (none = all)")
    return (kinds,)


@app.cell
def _(dash, db, filters, grain, kinds):
    moved = dash.stock_moves(db, filters, grain.value, tuple(kinds.value))
    return (moved,)


@app.cell
def _(charts, kinds, measure, mo, moved):
    mo.vstack([mo.md("### Moves in and out of stock"), kinds,
               mo.ui.altair_chart(charts.moves(moved, measure.value), chart_selection=False)])
    return


@app.cell
def _(category_chart, dash, filters):
    picked = dash.selected_ids(category_chart.value, "category_id")
    detail_filters = filters.with_categories(picked) if picked else filters
    return (detail_filters,)


@app.cell
def _(dash, db, detail_filters):
    slow = dash.slow_movers(db, detail_filters)
    outs = dash.stock_outs(db, detail_filters)
    by_product = dash.stock_levels(db, detail_filters, "product")
    return by_product, outs, slow


@app.cell
def _(by_category, by_location, by_product, charts, detail_filters, mo, moved, outs, slow):
    mo.vstack([mo.md(f"### Details · {detail_filters.describe()}"), mo.ui.tabs({
        f"Stock-outs ({len(outs)})": mo.ui.table(outs, **charts.table_args(outs)),
        f"Slow movers ({len(slow)})": mo.ui.table(slow, **charts.table_args(slow)),
        "Stock by product": mo.ui.table(by_product, **charts.table_args(by_product)),
        "By location": mo.ui.table(by_location, **charts.table_args(by_location)),
        "By category": mo.ui.table(by_category, **charts.table_args(by_category)),
        "Moves": mo.ui.table(moved, **charts.table_args(moved)),
    })])
    return


if __name__ == "__main__":
    app.run()
