"""Presentation for the operations notebooks: results and tables as marimo output, the
runbook's layout, and altair charts for monitoring. No logic: frames come from
:mod:`nkdash.ops`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict

import altair as alt
import marimo as mo
import pandas as pd

from nkdash.dashboards.charts import inline_chart_data
from nkdash.ops import display
from nkdash.ops.common import Result
from nkdash.ops.common import timezone_warning as timezone_note
from nkdash.ops.runbook import RUNBOOK, SECTIONS, Procedure, Step
from nkdash.settings import Settings

inline_chart_data()  # charts' rows in the page, not in virtual files a re-run deletes (see charts)


HEIGHT = 260


DAY_TIME = "%Y-%m-%d %H:%M"  # charts' time axes and tooltips: 24-hour


RISK_KIND: dict[str, Literal["neutral", "success", "warn", "danger"]] = {  # mo.ui.run_button kinds
    "read": "neutral",
    "write": "warn",
    "destructive": "danger",
}


class _Scale(TypedDict):
    domain: list[str]
    range: list[str]


STATUS_COLORS: _Scale = {"domain": ["success", "failed", "skipped"], "range": ["#2ca02c", "#d62728", "#bbbbbb"]}


def table(frame: pd.DataFrame, page_size: int = 10, label: str = "") -> Any:
    """A read-only table (no row selection), its values as people read them
    (:func:`nkdash.ops.display.tidy`): no NaN or None, 24-hour times, durations, long task
    ids shortened with the full id on hover."""
    return mo.ui.table(
        readable(frame),
        selection=None,
        page_size=page_size,
        label=label,
        show_column_summaries=False,
        show_data_types=False,
    )


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    shown = display.tidy(frame)
    for column in display.ID_COLUMNS:
        if column in shown.columns:
            cells = [mo.Html(display.id_html(v)) for v in shown[column].tolist()]
            shown[column] = pd.Series(cells, index=shown.index, dtype=object)
    return shown


def show(result: Any) -> Any:
    """A result: a callout with its headline, its details as plain text, its table. Reports
    of the library (scan, repair) show through their ``result()``."""
    if not isinstance(result, Result):
        result = result.result()
    parts: list[Any] = [mo.callout(mo.md(f"**{result.title}**"), kind=result.kind)]
    if result.text:
        parts.append(mo.plain_text(result.text))
    if result.table is not None:
        parts.append(table(result.table))
    return mo.vstack(parts)


def toast(result: Result) -> None:
    mo.status.toast(result.title, result.summary, kind=None if result.ok else "danger")


def counts(values: Mapping[str, int]) -> Any:
    """Task counts as stat cards."""
    return mo.hstack(
        [mo.stat(value=str(n), label=name, bordered=True) for name, n in values.items()], justify="start", wrap=True
    )


def freshness(frame: pd.DataFrame) -> Any:
    """The freshness table; above it, in red, the dates not reconciled with Odoo (the table's
    column for them is off screen on a phone)."""
    table = mo.ui.table(
        readable(frame),
        selection=None,
        page_size=10,
        show_column_summaries=False,
        show_data_types=False,
        style_cell=_sla_style,
        label="Freshness per dataset",
    )
    unreconciled = [
        f"{row['dataset']} {row['not reconciled']}"
        for row in frame.to_dict("records")
        if row.get("not reconciled") not in (None, "", "-")
    ]
    if not unreconciled:
        return table
    note = mo.md(
        f"**Not reconciled with Odoo**: {'; '.join(unreconciled)}. The nightly reconciliation reloaded these "
        "dates and they still differ from Odoo (or could not be reloaded): `nkdash validate --date D` shows "
        "what differs, `nkdash reconcile` tries again."
    )
    return mo.vstack([mo.callout(note, kind="danger"), table])


def _sla_style(row: str, column: str, value: Any) -> dict[str, str]:
    colors = {"ok": "#17703a", "late": "#a86400", "critical": "#b00020"}
    if column == "not reconciled" and value not in (None, "", "-"):  # still disagrees with Odoo: never quiet
        return {"color": colors["critical"], "fontWeight": "600"}
    return {"color": colors[value], "fontWeight": "600"} if column == "SLA" and value in colors else {}


def timezone_warning(settings: Settings) -> Any:
    """A warning callout when NKDASH_TZ is unset and Odoo's timezone differs; else nothing."""
    warning = timezone_note(settings)
    return mo.callout(mo.md(warning), kind="warn") if warning else mo.md("")


def runbook_buttons() -> Any:
    """One run button per procedure (a dictionary: cells read ``buttons.value``)."""
    return mo.ui.dictionary({p.key: mo.ui.run_button(label=p.label, kind=RISK_KIND[p.risk]) for p in RUNBOOK})


def sections() -> Any:
    """The runbook's sections as a list (a dropdown: it fits a phone, where tabs overflowed)."""
    return mo.ui.dropdown(options=list(SECTIONS), value=SECTIONS[0], label="**Section**")


def confirmation(step: Step | None) -> Any:
    """What confirms a previewed procedure: a form where the operator types its word (those
    that remove data; it submits only the exact word), or a Confirm button; None otherwise."""
    if step is None or step.preview is None or step.blocked:
        return None
    if step.word is None:
        return mo.ui.run_button(label=f"Confirm: {step.procedure.label}", kind="warn")
    word = step.word
    return mo.ui.text(placeholder=word, label=f"Type **{word}** to confirm").form(
        submit_button_label=f"Confirm: {step.procedure.label}",
        validate=lambda value: None if str(value or "").strip() == word else f"type {word!r} exactly, or leave it",
    )


def confirmed(step: Step | None, control: Any) -> bool:
    """The operator confirmed ``step`` (clicked Confirm, or submitted its word)."""
    if step is None or control is None:
        return False
    if step.word is None:
        return bool(control.value)
    return (control.value or "").strip() == step.word


def runbook_section(section: str, buttons: Any, step: Step | None, outcome: Result | None, control: Any) -> Any:
    """The procedures of ``section``, each with its button; under the one just pressed, its
    result, or its preview and confirmation, or what the confirmed run did (one at a time:
    a new click clears the last)."""
    items = []
    for p in RUNBOOK:
        if p.section != section:
            continue
        feedback = None
        if step is not None and step.key == p.key:
            feedback = _feedback(step, outcome, control)
        items.append(procedure(p, buttons[p.key], feedback))
    return mo.vstack(items, gap=1.25)


def _feedback(step: Step, outcome: Result | None, control: Any) -> Any:
    if outcome is not None:
        return show(outcome)
    if step.result is not None:
        return show(step.result)
    assert step.preview is not None  # a mutating procedure's step has one
    parts = [show(step.preview)]
    if control is not None:
        parts.append(control)
    return mo.vstack(parts, gap=0.5)


def procedure(p: Procedure, button: Any, feedback: Any = None) -> Any:
    notebook, section = p.place
    here = "this page" if notebook == "/runbook" else f"[{notebook} › {section}]({notebook}/)"
    uses = f" · uses: {', '.join(p.uses)}" if p.uses else ""
    risk = {"read": "reads only", "write": "**changes data**", "destructive": "**replaces or drops data**"}[p.risk]
    calls = ", ".join(f"`{name}`" for name in p.calls)
    text = mo.md(f"### {p.title}\n\n{p.how}\n\n<small>Done on {here} · calls {calls}</small>")
    row = mo.hstack([button, mo.md(f"<small>{risk}{uses}</small>")], justify="start", align="center", wrap=True)
    parts = [text, row] + ([mo.callout(feedback, kind="neutral")] if feedback is not None else [])
    return mo.vstack(parts, gap=0.25)


def chart(c: alt.Chart) -> Any:
    """An altair chart as a marimo element: legend click filters, no point selection."""
    return mo.ui.altair_chart(c, chart_selection=False, legend_selection=True)


def _empty(message: str) -> alt.Chart:
    built: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(pd.DataFrame({"text": [message]}))
        .mark_text(size=14, color="#777")
        .encode(text="text:N")
        .properties(width="container", height=60)
    )
    return built


def durations(runs: pd.DataFrame) -> alt.Chart:
    """Each ETL run: when it started (x), how long it took (y), its dataset and status."""
    if runs.empty:
        return _empty("No ETL run in this period")
    built: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(runs)
        .mark_point(filled=True, size=60)
        .encode(
            x=alt.X("started:T", title="Started (UTC)", axis=alt.Axis(format=DAY_TIME)),
            y=alt.Y("seconds:Q", title="Duration (s)"),
            color=alt.Color("dataset:N", title="Dataset"),
            shape=alt.Shape("status:N", title="Status"),
            tooltip=[
                alt.Tooltip("started:T", format=DAY_TIME),
                "dataset:N",
                alt.Tooltip("date:T", format="%Y-%m-%d"),
                "trigger:N",
                "status:N",
                alt.Tooltip("seconds:Q", format=".2f"),
                alt.Tooltip("rows:Q", format=","),
                "error:N",
            ],
        )
        .properties(width="container", height=HEIGHT, title="ETL run durations")
    )
    return built


def runs_per_day(runs: pd.DataFrame) -> alt.Chart:
    """Runs per day by status: failures stand out in red."""
    if runs.empty:
        return _empty("No ETL run in this period")
    daily = runs.groupby(["day", "status"], as_index=False).agg(runs=("dataset", "size"))
    built: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(daily)
        .mark_bar()
        .encode(
            x=alt.X("day:O", title="Day (UTC)"),
            y=alt.Y("runs:Q", title="Runs"),
            color=alt.Color("status:N", title="Status", scale=alt.Scale(**STATUS_COLORS)),
            tooltip=["day:O", "status:N", "runs:Q"],
        )
        .properties(width="container", height=HEIGHT, title="Runs and failures per day")
    )
    return built


def throughput(stats: pd.DataFrame) -> alt.Chart:
    """Rows loaded per second of ETL time, per dataset."""
    if stats.empty:
        return _empty("No ETL run in this period")
    built: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(stats)
        .mark_bar()
        .encode(
            x=alt.X("throughput:Q", title="Rows per second"),
            y=alt.Y("dataset:N", title=None, sort="-x"),
            color=alt.condition("datum.failures > 0", alt.value("#d62728"), alt.value("#1f77b4")),
            tooltip=[
                "dataset:N",
                "runs:Q",
                "failures:Q",
                alt.Tooltip("rows:Q", format=","),
                alt.Tooltip("seconds:Q", format=".1f"),
                alt.Tooltip("slowest:Q", format=".2f"),
                alt.Tooltip("throughput:Q", format=",.0f"),
            ],
        )
        .properties(width="container", height=max(120, 28 * len(stats)), title="Throughput (red: had failures)")
    )
    return built


def queries(stats: pd.DataFrame) -> alt.Chart:
    """Median and p95 seconds per dashboard query, slowest first."""
    if stats.empty:
        return _empty("No dashboard query timed in this period")
    long = stats.melt(
        id_vars=["name", "count"], value_vars=["median", "p95", "slowest"], var_name="measure", value_name="seconds"
    )
    built: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("seconds:Q", title="Seconds"),
            y=alt.Y("name:N", title=None, sort=alt.EncodingSortField("seconds", op="max", order="descending")),
            yOffset="measure:N",
            color=alt.Color("measure:N", title=None, sort=["median", "p95", "slowest"]),
            tooltip=["name:N", "measure:N", alt.Tooltip("seconds:Q", format=".4f"), "count:Q"],
        )
        .properties(width="container", height=max(140, 45 * len(stats)), title="Dashboard query timings")
    )
    return built


def file_sizes(files: pd.DataFrame) -> alt.Chart:
    """Bytes of each daily partition file over the dates, per table."""
    dated = files[files["date"].notna()]
    if dated.empty:
        return _empty("No partition file in the lake")
    built: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(dated)
        .mark_line(point=True)
        .encode(
            x=alt.X("date:T", title="Business date", axis=alt.Axis(format="%Y-%m-%d")),
            y=alt.Y("bytes:Q", title="File size (bytes)", axis=alt.Axis(format="~s")),
            color=alt.Color("table:N", title="Table"),
            tooltip=["table:N", alt.Tooltip("date:T", format="%Y-%m-%d"), alt.Tooltip("bytes:Q", format=",")],
        )
        .properties(width="container", height=HEIGHT, title="Partition file sizes")
    )
    return built


def table_totals(sizes: pd.DataFrame) -> alt.Chart:
    """Total bytes per table, labelled with its file count."""
    if sizes.empty:
        return _empty("The lake holds no data files")
    labelled = sizes.assign(label=sizes["table"] + " (" + sizes["files"].astype(str) + " files)")
    built: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(labelled)
        .mark_bar()
        .encode(
            x=alt.X("bytes:Q", title="Bytes", axis=alt.Axis(format="~s")),
            y=alt.Y("label:N", title=None, sort="-x"),
            tooltip=[
                "table:N",
                "files:Q",
                "partitions:Q",
                alt.Tooltip("rows:Q", format=","),
                alt.Tooltip("bytes:Q", format=","),
                "oldest:N",
                "newest:N",
            ],
        )
        .properties(width="container", height=max(120, 24 * len(sizes)), title="Bytes and files per table")
    )
    return built


def depth(series: pd.DataFrame) -> alt.Chart:
    """Tasks waiting and running over time (steps)."""
    long = series.melt(id_vars=["time"], value_vars=["waiting", "running"], var_name="tasks", value_name="count")
    built: alt.Chart = (  # annotated: altair types mark_*() as returning Any
        alt.Chart(long)
        .mark_line(interpolate="step-after")
        .encode(
            x=alt.X("time:T", title="Time (UTC)", axis=alt.Axis(format=DAY_TIME)),
            y=alt.Y("count:Q", title="Tasks", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color(
                "tasks:N", title=None, scale=alt.Scale(domain=["waiting", "running"], range=["#ff7f0e", "#1f77b4"])
            ),
            tooltip=[alt.Tooltip("time:T", format=DAY_TIME), "tasks:N", "count:Q"],
        )
        .properties(width="container", height=HEIGHT, title="Queue depth")
    )
    return built
