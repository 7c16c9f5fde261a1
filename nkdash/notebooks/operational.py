import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Operations")


@app.cell
def _():
    import marimo as mo

    from nkdash.ops import common, refresh, tables, views
    from nkdash.settings import get_settings

    return common, get_settings, mo, refresh, tables, views


@app.cell
def _(common, get_settings, mo, views):
    settings = get_settings()
    query = mo.query_params()
    mo.vstack([mo.md(f"# Operations\n{common.describe_setup(settings)}"), views.timezone_warning(settings)])
    return query, settings


@app.cell
def _(common, mo, query, settings):
    dataset = mo.ui.dropdown(common.DATASET_CHOICES, value=common.title_of(common.choice(query.get("dataset"))),
                             label="Dataset")
    period = mo.ui.date_range(stop=common.latest_date(settings), value=common.period_from(query, settings),
                              label="Dates")
    async_button = mo.ui.run_button(label="Async Refresh", tooltip="queue one task per date (at most 31 days)")
    sync_button = mo.ui.run_button(label="Sync Refresh", kind="warn", tooltip="load one day now")
    return async_button, dataset, period, sync_button


@app.cell
def _(async_button, dataset, mo, period, sync_button):
    mo.vstack([
        mo.md("## Refresh a dataset"),
        mo.hstack([dataset, period, async_button, sync_button], justify="start", align="end"),
        mo.md("<small>**Async Refresh** queues one task per date (at most 31 days); a worker loads them. "
              "**Sync Refresh** loads one day now, in this page.</small>"),
    ])
    return


@app.cell
def _(async_button, dataset, mo, period, refresh, settings, sync_button):
    mo.stop(not (async_button.value or sync_button.value))  # one result: the last action's (older ones go)
    if async_button.value:
        request = refresh.async_refresh(dataset.value, period.value, settings=settings)
        done = request
    else:
        request = None
        done = refresh.sync_refresh(dataset.value, period.value, settings=settings, progress=mo.status.progress_bar)
    return done, request


@app.cell
def _(done, views):
    views.show(done)
    return


@app.cell
def _(mo):
    live = mo.ui.refresh(options=["2s", "5s", "15s", "1m"], default_interval="5s",
                         label="Live: the tables below refresh every")
    live
    return (live,)


@app.cell
def _(live, mo, request, settings, tables, views):
    live.value
    mo.stop(request is None or not request.ok)
    mo.vstack([mo.md(f"### Request `{request.value}`"), views.table(tables.request_table(request.value, settings))])
    return


@app.cell
def _(live, mo, settings, tables, views):
    live.value
    mo.vstack([mo.md("## Last processed dates"), views.freshness(tables.freshness_table(settings))])
    return


@app.cell
def _(live, mo, settings, tables, views):
    live.value
    mo.vstack([mo.md("## Schedule"), views.table(tables.schedule_table(settings), label="Daily loads, then lake jobs")])
    return


@app.cell
def _(live, mo, settings, tables, views):
    live.value
    mo.vstack([mo.md("## Tasks"), views.counts(tables.task_counts(settings)),
               views.table(tables.task_table(settings), page_size=15, label="Most recent first")])
    return


if __name__ == "__main__":
    app.run()
