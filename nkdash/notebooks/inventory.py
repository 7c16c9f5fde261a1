import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Inventory")


@app.cell
def _():
    import marimo as mo

    from nkdash import dashboards as dash
    from nkdash.dashboards import charts, controls, stock, tables

    return charts, controls, dash, mo, stock, tables


@app.cell
def _(controls, dash, mo, stock):
    db, page, who = dash.open_dashboard(), controls.PAGES["inventory"], controls.audience()
    measure = mo.ui.radio({"Quantity": "qty", **({"Value": "value"} if who.sees_cost else {})},
                          value="Value" if who.sees_cost else "Quantity", inline=True, label="Measure")
    window = mo.ui.dropdown({f"{d} days": d for d in stock.COVER_WINDOWS}, value="28 days", label="Sales per day over")
    threshold = mo.ui.slider(1, 30, value=stock.RUNNING_LOW_DAYS, show_value=True, label="Running low under (days)")
    picker, grain, _sidebar = controls.sidebar(db, page, measure, window, threshold)
    _sidebar
    return db, grain, measure, page, picker, threshold, who, window


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
def _(controls, dash, db, filters, fmt, mo, who):
    stock_day = dash.stock_date(db, filters)
    _value = " Value = units × the product's current cost." if who.sees_cost else ""
    mo.md(f"# Inventory\n{controls.describe(db, filters, fmt)}. Stock at the end of "
          f"**{fmt.date(stock_day) if stock_day else 'no date of this period'}**.{_value}")
    return


@app.cell
def _(controls, dash, db, filters, fmt, who):
    controls.kpis(dash.inventory_comparison(db, filters), fmt, who)
    return


@app.cell
def _(charts, controls, dash, db, filters, fmt, measure, mo, who):
    _levels = who.shown(dash.stock_levels(db, filters, "location"))
    by_store = _levels.groupby("store", as_index=False, dropna=False)[
        [c for c in ("products", "qty", "value") if c in _levels]].sum()
    by_category = who.shown(dash.stock_levels(db, filters, "category"))
    controls.row(
        mo.vstack([controls.section("Stock by store", "What each store's stock locations hold."),
                   controls.chart(charts.bars(by_store, measure.value, "store", fmt, tooltip=["qty", "value", "products"]))]),
        mo.vstack([controls.section("Stock by category", "Per category, in every selected store."),
                   controls.chart(charts.bars(by_category, measure.value, "category", fmt, color="department",
                               tooltip=["qty", "value", "products"]))]),
    )
    return by_category, by_store


@app.cell
def _(dash, db, filters, threshold, who, window):
    cover = who.shown(dash.stock_cover(db, filters, window.value, threshold.value))
    outs = dash.with_on_order(dash.stock_outs(db, filters), dash.on_order(db, filters))
    return cover, outs


@app.cell
def _(controls, cover, fmt, mo, tables, threshold, window):
    _low = cover[cover["running_low"]]
    mo.vstack([
        controls.section(f"Running low ({len(_low)})",
                         f"In stock and selling, but covered for fewer days than {threshold.value} or than the "
                         f"vendor's lead time. Days of cover = on hand ÷ units sold per day over the last "
                         f"{window.value} days."),
        tables.table(_low, fmt, ["store", "product", "code", "on_hand", "daily_units", "cover_days", "lead_days",
                                 "on_order", "expected"]) if len(_low) else mo.md("*Nothing is running low.*"),
    ])
    return


@app.cell
def _(controls, fmt, mo, outs, tables):
    mo.vstack([
        controls.section(f"Stock-outs ({len(outs)})",
                         "Storable products with no unit left in a store where they sold in the period, and what "
                         "open purchase orders will bring."),
        tables.table(outs, fmt, ["store", "product", "code", "category", "on_hand", "units_sold", "daily_units",
                                 "on_order", "expected", "revenue"]) if len(outs) else mo.md("*No stock-out.*"),
    ])
    return


@app.cell
def _(dash, db, filters, who):
    dead = who.shown(dash.slow_movers(db, filters))
    classes = who.shown(dash.abc_classes(db, filters))
    flow = dash.sell_through(db, filters, "category")
    return classes, dead, flow


@app.cell
def _(classes, controls, dash, fmt, mo, tables, who):
    _summary = who.shown(dash.abc_summary(classes)) if len(classes) else classes
    mo.vstack([
        controls.section("ABC classes", "Products by revenue in the period: A make the first 80% of revenue, B the "
                         "next 15%, C the rest and what is in stock without selling."),
        tables.table(_summary, fmt, ["abc", "products", "revenue", "share", "on_hand", "value", "value_share"])
        if len(classes) else mo.md("*Nothing sold or in stock.*"),
    ])
    return


@app.cell
def _(charts, controls, flow, fmt, mo, tables):
    mo.vstack([
        controls.section("Sell-through and stock turn by category",
                         "Sell-through = units sold ÷ (units sold + on hand at the end). Stock turn = units sold "
                         "per year ÷ the average units on hand."),
        controls.chart(charts.bars(flow.head(15), "sell_through", "category", fmt, color="department",
                    tooltip=["sell_through", "stock_turn", "units_sold", "on_hand"])) if len(flow) else mo.md(""),
        tables.table(flow, fmt, ["category", "department", "units_sold", "on_hand", "sell_through", "stock_turn",
                                 "cover_days"]),
    ])
    return


@app.cell
def _(dash, mo):
    kinds = mo.ui.multiselect(list(dash.MOVE_KINDS), label="Kinds of move (none = all)")
    return (kinds,)


@app.cell
def _(dash, db, filters, grain, kinds, who):
    moved = who.shown(dash.stock_moves(db, filters, grain.value, tuple(kinds.value)))
    return (moved,)


@app.cell
def _(charts, controls, fmt, grain, kinds, measure, mo, moved):
    mo.vstack([controls.section("Moves in and out of stock", "Units moved into (+) and out of (−) the stock "
                                "locations of the selected stores, by kind."),
               kinds,
               controls.chart(charts.moves(moved, fmt, measure.value, grain.value)) if len(moved) else mo.md("*No move.*")])
    return


@app.cell
def _(by_category, by_store, classes, controls, dead, fmt, mo, tables):
    mo.vstack([controls.section(f"Dead stock ({len(dead)})", "Products in stock that did not sell in the period, "
                                "and the days since their last sale (looked up to 90 days before)."),
               mo.ui.tabs({
                   "Dead stock": tables.table(dead, fmt, ["product", "code", "category", "qty", "value", "last_sold",
                                                          "days_since_sale"]),
                   "ABC per product": tables.table(classes, fmt, ["abc", "product", "code", "revenue", "share",
                                                                  "cumulative_share", "on_hand", "value"]),
                   "Stock by store": tables.table(by_store, fmt, ["store", "products", "qty", "value"]),
                   "Stock by category": tables.table(by_category, fmt, ["category", "department", "products", "qty",
                                                                        "value"]),
               })])
    return


if __name__ == "__main__":
    app.run()
