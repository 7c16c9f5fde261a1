import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Monitoring")


@app.cell
def _():
    import marimo as mo

    from nkdash.ops import common, monitoring, views
    from nkdash.settings import get_settings
    from nkdash.web import throttle

    return common, get_settings, mo, monitoring, throttle, views


@app.cell
def _(common, get_settings, mo, views):
    settings = get_settings()
    mo.vstack([mo.md(f"# Monitoring\n{common.describe_setup(settings)}"), views.timezone_warning(settings)])
    return (settings,)


@app.cell
def _(mo):
    days = mo.ui.slider(1, 90, value=7, label="Last N days", show_value=True)
    live = mo.ui.refresh(options=["30s", "1m", "5m"], label="Reload")
    mo.hstack([days, live], justify="start", align="center")
    return days, live


@app.cell
def _(mo):
    test_button = mo.ui.run_button(label="Send a test alert")
    return (test_button,)


@app.cell
def _(days, live, mo, monitoring, settings, test_button, views):
    live.value
    tested = monitoring.test_alert(settings) if test_button.value else None
    mo.vstack([mo.md("## Alerts"), mo.md(monitoring.alert_channels(settings)),
               mo.hstack([test_button, views.show(tested) if tested else mo.md("")], justify="start", align="start"),
               views.table(monitoring.incidents_table(settings), label="Incidents (open first)"),
               views.table(monitoring.alerts_table(settings, days.value), label="Alerts sent")])
    return


@app.cell
def _(days, live, monitoring, settings):
    live.value
    runs = monitoring.runs_frame(settings, days.value)
    stats = monitoring.dataset_stats(settings, days.value)
    return runs, stats


@app.cell
def _(mo, monitoring, runs, stats, views):
    mo.vstack([mo.md("## ETL runs"), views.counts(monitoring.run_counts(runs)),
               mo.hstack([views.chart(views.durations(runs)), views.chart(views.runs_per_day(runs))],
                         widths="equal"),
               views.chart(views.throughput(stats))])
    return


@app.cell
def _(mo, monitoring, runs, views):
    failures = monitoring.failed_runs(runs)
    mo.accordion({f"Failures ({len(failures)})": views.table(failures), f"Every run ({len(runs)})": views.table(runs)})
    return


@app.cell
def _(days, live, monitoring, settings):
    live.value
    query_stats = monitoring.query_stats(settings, days.value)
    slowest = monitoring.slowest_queries(settings, days.value)
    return query_stats, slowest


@app.cell
def _(mo, query_stats, slowest, views):
    mo.vstack([mo.md("## Slowest queries"), views.chart(views.queries(query_stats)),
               views.table(slowest, label="Slowest executions")])
    return


@app.cell
def _(live, monitoring, settings):
    live.value
    files = monitoring.partition_files(settings)
    sizes = monitoring.table_sizes(settings)
    return files, sizes


@app.cell
def _(files, mo, sizes, views):
    mo.vstack([mo.md("## Partition files"),
               mo.hstack([views.chart(views.table_totals(sizes)), views.chart(views.file_sizes(files))],
                         widths=[2, 3]),
               views.table(sizes, label="Per table")])
    return


@app.cell
def _(days, live, mo, monitoring, settings, views):
    live.value
    mo.vstack([mo.md("## Queue depth"), views.chart(views.depth(monitoring.queue_depth(settings, days.value))),
               mo.md("<small>Derived from the task history: a task waits from its enqueueing until a worker "
                     "starts it, then runs until it finishes.</small>")])
    return


@app.cell
def _(live, mo, monitoring, throttle, views):
    live.value
    logins = monitoring.login_counts(throttle.report())
    mo.vstack([mo.md("## Logins"),
               views.counts(logins) if logins else mo.md("Login counts are kept by the web app (`nkdash serve`)."),
               mo.md("<small>Since the web app started. After repeated failures a user name or a client address "
                     "waits longer before each try, then is locked out for a while (README, Guarantees).</small>")])
    return


if __name__ == "__main__":
    app.run()
