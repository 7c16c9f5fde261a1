import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Sales")


@app.cell
def _():
    import marimo as mo

    from nkdash import dashboards as dash
    from nkdash.dashboards import charts, controls, tables

    return charts, controls, dash, mo, tables


@app.cell
def _(controls, dash, mo):
    db, page = dash.open_dashboard(), controls.PAGES["sales"]
    overlay = mo.ui.dropdown({"Nothing": None, "Previous period": "previous", "Last year": "last_year"},
                             value="Nothing", label="Compare with")
    picker, grain, _sidebar = controls.sidebar(db, page, overlay)
    _sidebar
    return db, grain, overlay, page, picker


@app.cell
def _(controls, dash, db, page, picker):
    requested, fmt, who = controls.filters(picker), dash.page_formats(db), controls.audience()
    controls.freshness(db, page, requested, fmt)
    return fmt, requested, who


@app.cell
def _(controls, db, fmt, mo, page, requested):
    _empty = controls.empty_state(db, page, requested, fmt)
    mo.stop(_empty is not None, _empty)
    filters = requested
    return (filters,)


@app.cell
def _(controls, db, filters, fmt, mo):
    mo.md(f"# Sales\n{controls.describe(db, filters, fmt)}. Amounts untaxed, in {fmt.currency}.")
    return


@app.cell
def _(controls, dash, db, filters, fmt, who):
    comparison = dash.sales_comparison(db, filters)
    controls.kpis(comparison, fmt, who)
    return


@app.cell
def _(charts, controls, dash, db, filters, fmt, mo, who):
    by_store = who.shown(dash.sales_by_store(db, filters)).dropna(subset=["store_id"])  # invoices: a channel
    by_channel = who.shown(dash.sales_by_channel(db, filters))
    controls.row(
        mo.vstack([controls.section("Revenue by store", "Point-of-sale revenue of each store; invoices are a channel."),
                   controls.chart(charts.bars(by_store, "revenue", "store", fmt, tooltip=["revenue", "orders", "basket", "share"]))]),
        mo.vstack([controls.section("Revenue by channel", "Point of sale (tills) and invoices (no store)."),
                   controls.chart(charts.bars(by_channel, "revenue", "channel", fmt, tooltip=["revenue", "orders", "basket", "share"]))]),
    )
    return by_channel, by_store


@app.cell
def _(mo, who):
    _metrics = {"Revenue": "revenue", "Orders": "orders", "Average basket": "basket", "Units": "units"}
    metric = mo.ui.dropdown(_metrics | ({"Margin": "margin"} if who.sees_cost else {}), value="Revenue", label="Metric")
    split = mo.ui.dropdown({"Total": None, "Channel": "channel", "Store": "store"}, value="Total", label="Split by")
    return metric, split


@app.cell
def _(dash, db, filters, grain, overlay, split, who):
    trend = who.shown(dash.sales_trend(db, filters, grain.value, split.value))
    _against = dash.sales_trend_against(db, filters, grain.value, overlay.value) if overlay.value else None
    against = who.shown(_against) if _against is not None else None
    return against, trend


@app.cell
def _(against, charts, controls, fmt, grain, metric, mo, overlay, split, trend):
    _missing = overlay.value is not None and against is None
    mo.vstack([
        controls.section(f"Trend by {grain.value}", charts.PARTIAL_NOTE if grain.value != "day" else ""),
        mo.hstack([metric, split], justify="start", wrap=True),
        controls.chart(charts.trend(trend, metric.value, fmt, grain.value, color=split.value, overlay=against)),
        mo.md(f"<small>The {overlay.selected_key.lower()} is not loaded: nothing to overlay.</small>") if _missing
        else mo.md(""),
    ])
    return


@app.cell
def _(charts, controls, dash, db, filters, fmt, mo):
    by_hour = dash.sales_by_hour(db, filters)
    _known = dash.hour_coverage(by_hour)
    _note = "" if _known >= 0.999 else (
        f" The hour is known for {fmt.percent(_known)} of this revenue: sales loaded before nkdash recorded it "
        "count once their dates are reloaded.")
    mo.vstack([
        controls.section("When customers buy", "Average point-of-sale revenue per day at each hour of each weekday "
                         f"(local time).{_note}"),
        controls.chart(charts.heatmap(by_hour, fmt)) if by_hour["hour"].notna().any() else mo.md("*No hour of sale known here.*"),
    ])
    return


@app.cell
def _(mo):
    ranking = mo.ui.dropdown({"Products": "product", "Categories": "category"}, value="Products", label="Rank")
    return (ranking,)


@app.cell
def _(dash, db, filters, ranking, who):
    ranked = who.shown(dash.top_products(db, filters, 10, "revenue", ranking.value))
    return (ranked,)


@app.cell
def _(charts, controls, fmt, mo, ranked, ranking):
    _what = ranking.selected_key.lower()
    mo.vstack([
        controls.section(f"Best and weakest {_what} by revenue",
                         f"The {_what} that sold the most and the least in the period (each on its own scale)."),
        ranking,
        controls.row(
            mo.vstack([mo.md("**Top 10**"), controls.chart(charts.ranked(ranked, "revenue", ranking.value, fmt, "top"))]),
            mo.vstack([mo.md("**Bottom 10**"), controls.chart(charts.ranked(ranked, "revenue", ranking.value, fmt, "bottom"))]),
        ),
    ])
    return


@app.cell
def _(by_channel, by_store, fmt, mo, ranked, tables, trend):
    mo.ui.tabs({
        "By store": tables.table(by_store, fmt, ["store", "revenue", "orders", "basket", "units_per_order", "units",
                                                 "refund_value", "margin", "margin_pct", "share"]),
        "By channel": tables.table(by_channel, fmt, ["channel", "revenue", "orders", "basket", "units", "refund_value",
                                                     "margin", "margin_pct", "share"]),
        "Per period": tables.table(trend, fmt, ["period", "channel", "store", "revenue", "orders", "basket", "units",
                                                "margin", "margin_pct", "partial"], 15),
        "Ranking": tables.table(ranked, fmt, ["rank", "position", "product", "code", "category", "revenue", "units",
                                              "margin", "margin_pct"]),
    })
    return


if __name__ == "__main__":
    app.run()
