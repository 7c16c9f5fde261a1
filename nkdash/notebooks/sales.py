import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Sales")


@app.cell
def _():
    import marimo as mo

    from nkdash import dashboards as dash
    from nkdash.dashboards import charts, controls

    return charts, controls, dash, mo


@app.cell
def _(controls, dash):
    db, page = dash.open_dashboard(), controls.PAGES["sales"]
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
    mo.md(f"# Sales\n{filters.describe()}, compared with the {filters.days} days before.")
    return


@app.cell
def _(charts, dash, db, filters, mo):
    kpis = dash.sales_comparison(db, filters)
    mo.hstack([mo.stat(**card) for card in charts.kpi_cards(kpis, filters)], wrap=True, justify="start")
    return


@app.cell
def _(charts, dash, db, filters, mo):
    by_store = dash.sales_by_store(db, filters)
    store_chart = mo.ui.altair_chart(
        charts.bars(by_store, "revenue", "store", tooltip=["revenue", "orders", "basket", "share"]),
        chart_selection="point", legend_selection=False, label="Revenue by store (click: focus the trend)")
    return by_store, store_chart


@app.cell
def _(charts, dash, db, filters, mo):
    by_channel = dash.sales_by_channel(db, filters)
    channel_chart = mo.ui.altair_chart(
        charts.bars(by_channel, "revenue", "channel", tooltip=["revenue", "orders", "basket", "share"]),
        chart_selection=False, legend_selection=False, label="Revenue by channel")
    return by_channel, channel_chart


@app.cell
def _(channel_chart, mo, store_chart):
    mo.hstack([store_chart, channel_chart], widths=[3, 2])
    return


@app.cell
def _(mo):
    metric = mo.ui.dropdown({"Revenue": "revenue", "Orders": "orders", "Average basket": "basket",
                             "Units": "units", "Margin": "margin"}, value="Revenue", label="Metric")
    split = mo.ui.radio({"Channel": "channel", "Store": "store", "Total": None}, value="Channel",
                        inline=True, label="Split by")
    return metric, split


@app.cell
def _(dash, filters, store_chart):
    focus = dash.selected_ids(store_chart.value, "store_id")
    trend_filters = filters.with_stores(focus) if focus else filters
    return (trend_filters,)


@app.cell
def _(dash, db, grain, split, trend_filters):
    trend = dash.sales_trend(db, trend_filters, grain.value, split.value)
    return (trend,)


@app.cell
def _(charts, grain, metric, mo, split, trend):
    trend_chart = mo.ui.altair_chart(charts.trend(trend, metric.value, color=split.value, grain=grain.value),
                                     chart_selection=False, legend_selection=True)
    return (trend_chart,)


@app.cell
def _(grain, metric, mo, split, trend_chart, trend_filters):
    mo.vstack([mo.md(f"### Trend by {grain.value} · {trend_filters.describe()}"),
               mo.hstack([metric, split], justify="start"), trend_chart])
    return


@app.cell
def _(charts, mo, trend):
    mo.ui.table(trend, **charts.table_args(trend, page_size=15), label="Sales per period")
    return


@app.cell
def _(by_channel, by_store, charts, mo):
    mo.ui.tabs({
        "By store": mo.ui.table(by_store, **charts.table_args(by_store)),
        "By channel": mo.ui.table(by_channel, **charts.table_args(by_channel)),
    })
    return


if __name__ == "__main__":
    app.run()
