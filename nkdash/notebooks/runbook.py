import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="Runbook")


@app.cell
def _():
    import marimo as mo

    from nkdash.ops import backups, common, runbook, views
    from nkdash.settings import get_settings

    return backups, common, get_settings, mo, runbook, views


@app.cell
def _(common, get_settings, mo, views):
    settings = get_settings()
    mo.vstack([mo.md(f"# Runbook\nEvery procedure of the operations runbook: what it is for, where it is done, and a "
                     f"button that does it. Buttons that change data first show what they will do and wait for your "
                     f"confirmation; set their inputs in the sidebar. {common.describe_setup(settings)}"),
               views.timezone_warning(settings)])
    return (settings,)


@app.cell
def _(backups, common, mo, settings):
    latest = common.latest_date(settings)
    day = mo.ui.date(stop=latest, value=latest, label="Date")
    period = mo.ui.date_range(stop=latest, value=(latest, latest), label="Range")
    days = mo.ui.number(start=1, stop=366, value=7, label="Last N days")
    backup = mo.ui.dropdown(backups.backup_choices(settings), value="(the newest backup)", label="Backup")
    task = mo.ui.text(placeholder="task or request id", label="Task / request")
    older_than = mo.ui.number(start=0, stop=3650, value=settings.compact_after_days,
                              label="Compact months ended more than N days ago")
    archive_before = mo.ui.date(stop=latest, value=common.retention_start(settings), label="Archive before")
    deep = mo.ui.checkbox(label="Deep scan")
    return archive_before, backup, day, days, deep, older_than, period, task


@app.cell
def _(archive_before, backup, day, days, deep, mo, older_than, period, task):
    mo.sidebar([mo.md("## Inputs"), day, period, days, task, backup, older_than, archive_before, deep],
               width="20rem")
    return


@app.cell
def _(archive_before, backup, day, days, deep, older_than, period, runbook, task):
    params = runbook.Params(day=day.value, start=period.value[0], end=period.value[1], days=int(days.value),
                        backup=backup.value, task=task.value, older_than_days=int(older_than.value),
                        archive_before=archive_before.value, deep=deep.value)
    return (params,)


@app.cell
def _(views):
    buttons = views.runbook_buttons()  # shown by the section's cell below, under which their results appear
    section = views.sections()
    section
    return buttons, section


@app.cell
def _(buttons, mo, params, runbook, section, settings, views):
    section.value  # a new section, new inputs or a new click clear the last preview
    chosen = runbook.clicked(buttons.value)
    step = None if chosen is None else runbook.begin(chosen, params, settings=settings, progress=mo.status.progress_bar)
    control = views.confirmation(step)
    return control, step


@app.cell
def _(buttons, control, mo, params, runbook, section, settings, step, views):
    outcome = (runbook.finish(step, params, settings=settings, progress=mo.status.progress_bar)
               if views.confirmed(step, control) else None)
    views.runbook_section(section.value, buttons, step, outcome, control)
    return


if __name__ == "__main__":
    app.run()
