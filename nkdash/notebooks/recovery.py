import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Recovery")


@app.cell
def _():
    import marimo as mo

    from nkdash.ops import common, recovery, runbook, views
    from nkdash.settings import get_settings

    return common, get_settings, mo, recovery, runbook, views


@app.cell
def _(common, get_settings, mo, views):
    settings = get_settings()
    mo.vstack([mo.md(f"# Recovery\nIdentify what is missing or damaged, repair it, validate it. "
                     f"{common.describe_setup(settings)}"), views.timezone_warning(settings)])
    return (settings,)


@app.cell
def _(mo):
    reload = mo.ui.refresh(label="Reload the tables")
    return (reload,)


@app.cell
def _(mo, recovery, reload, settings, views):
    reload.value
    mo.vstack([mo.hstack([mo.md("## Missing and failed dates"), reload], justify="space-between"),
               views.table(recovery.recovery_plan(settings), label="Per dataset, up to yesterday")])
    return


@app.cell
def _(mo):
    deep = mo.ui.checkbox(label="deep (read every page, check every checksum)")
    scan_button = mo.ui.run_button(label="Scan again")
    return deep, scan_button


@app.cell
def _(common, deep, mo, recovery, scan_button, settings, views):
    scan_button.value
    mo.vstack([mo.md("## Lake scan"), mo.hstack([deep, scan_button], justify="start", align="center"),
               views.show(common.attempt("Lake scan", recovery.scan, settings, deep=deep.value))])
    return


@app.cell
def _(mo, recovery):
    repair_button = mo.ui.run_button(label="Repair", kind="warn")
    mo.vstack([mo.md("## Repair"),
               mo.hstack([repair_button, mo.md(
                   "<small>shows what it will do first: moves every damaged partition to `_quarantine` and reloads "
                   "it; rebuilds missing aggregates from the lake; reloads every missing, failed or stale date (at "
                   f"most {recovery.REPAIR_LIMIT} per dataset per click, the most recent; POS and invoices before "
                   "profit); scans again. Same as `nkdash repair`.</small>")], justify="start", align="center")])
    return (repair_button,)


@app.cell
def _(deep, mo, repair_button, runbook, settings, views):
    mo.stop(not repair_button.value)
    repair_params = runbook.Params(deep=deep.value)
    repair_step = runbook.begin("corrupt.rebuild", repair_params, settings=settings)
    repair_confirm = views.confirmation(repair_step)
    return repair_confirm, repair_params, repair_step


@app.cell
def _(mo, recovery, repair_confirm, repair_params, repair_step, runbook, settings, views):
    if views.confirmed(repair_step, repair_confirm):
        repaired = runbook.finish(repair_step, repair_params, settings=settings, progress=mo.status.progress_bar)
        _shown = [views.show(repaired), views.table(recovery.recovery_plan(settings), label="After the repair")]
    else:
        _shown = [views.show(repair_step.preview), *([repair_confirm] if repair_confirm is not None else [])]
    mo.vstack(_shown)
    return


@app.cell
def _(mo):
    odoo_button = mo.ui.run_button(label="Check Odoo")
    mo.vstack([mo.md("## Odoo connection"), mo.md("Connect and log in with the configured URL, database, user "
                                                 "and password (or API key)."), odoo_button])
    return (odoo_button,)


@app.cell
def _(mo, odoo_button, recovery, settings, views):
    mo.stop(not odoo_button.value)
    views.show(recovery.odoo_result(settings))
    return


@app.cell
def _(common, mo, recovery, settings):
    latest = common.latest_date(settings)
    period = mo.ui.date_range(stop=latest, value=(latest, latest), label="Dates")
    validate_button = mo.ui.run_button(label="Validate")
    mo.vstack([mo.md("## Validation"),
               mo.md("After a repair or a restore: compare the lake with Odoo's own counts and totals, and run every "
                     f"declared check (at most {recovery.VALIDATE_LIMIT} dates at once)."),
               mo.hstack([period, validate_button], justify="start", align="end")])
    return period, validate_button


@app.cell
def _(common, mo, period, recovery, settings, validate_button, views):
    mo.stop(not validate_button.value)
    views.show(recovery.validate_dates(common.dates_of(period.value), settings, progress=mo.status.progress_bar))
    return


if __name__ == "__main__":
    app.run()
