"""KPI cards: each figure of a page with its change against the previous period and last
year, what a comparison lacks ("previous period not loaded", never "no sales") and how to
load it, and the one-sentence definition of every figure. Presentation only: ``mo.stat``
keyword arguments and markdown."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from nkdash.dashboards.compare import AGAINST, TITLES

if TYPE_CHECKING:
    from nkdash.dashboards.compare import Comparison
    from nkdash.dashboards.formats import Formats


def value_text(value: float, kind: str, fmt: Formats) -> str:
    """A KPI's value: money with the currency (no cents from a thousand), counts and
    quantities whole, ratios as percentages, other numbers with one decimal; '–' if none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind == "money":
        return fmt.money(value)
    if kind in ("count", "quantity"):
        return fmt.number(value, 0)
    if kind == "ratio":
        return fmt.percent(value)
    if kind == "days":
        return f"{fmt.number(value, 1)} days"
    return fmt.number(value, 1 if abs(value) < 100 else 0)


def change_text(change: float, kind: str, fmt: Formats) -> str:
    return fmt.points(change) if kind == "ratio" else fmt.change(change)


def kpi_cards(comparison: Comparison, fmt: Formats) -> list[dict[str, Any]]:
    """For each KPI of ``comparison``: its label, value, and one line per comparison period
    ('+4.2% vs previous period', '−1.0% vs last year (like-for-like)', or what the period
    lacks: 'previous period not loaded'); ``caption``: those lines joined; ``direction``:
    the change against the previous period (else last year), ``tone`` whether that is good
    ('good' | 'bad' | ''): the keyword arguments of ``mo.stat`` and of :func:`card_html`."""
    cards = []
    for row in comparison.kpis.to_dict("records"):
        parts, direction = [], None
        for against in AGAINST:
            covered = comparison.coverage[against]
            if not covered.full:
                parts.append(f"{TITLES[against]} {covered.state}")
                continue
            delta, before = row[f"{against}_change"], row[against]
            if delta is None or math.isnan(delta):  # nothing to compare with: say what it was
                parts.append(f"{value_text(before, row['kind'], fmt)} in the {TITLES[against]}")
                continue
            if delta == 0:
                parts.append(f"same as {TITLES[against]}")
                continue
            suffix = " (like-for-like)" if against == "last_year" and comparison.like_for_like else ""
            parts.append(f"{change_text(delta, row['kind'], fmt)} vs {TITLES[against]}{suffix}")
            if direction is None and delta != 0 and row["better"] != "none":
                direction = "increase" if delta > 0 else "decrease"
        tone = "" if direction is None or row["better"] == "none" else "good" if direction == row["better"] else "bad"
        cards.append(
            {
                "value": value_text(row["current"], row["kind"], fmt),
                "label": row["label"],
                "caption": " · ".join(parts),
                "lines": parts,
                "direction": direction,
                "tone": tone,
                "definition": row["definition"],
            }
        )
    return cards


TONES = {"good": "#1a7f37", "bad": "#b42318", "": "#57606a"}


def card_html(card: dict[str, Any]) -> str:
    """One KPI card as HTML: label, value, a line per comparison (coloured by whether the
    change is good), the definition as its tooltip. Wraps within its width (a phone's half)."""
    arrow = {"increase": "▲ ", "decrease": "▼ "}.get(card["direction"] or "", "")
    lines = "".join(
        f"<div style='color:{TONES[card['tone']] if i == 0 and arrow else TONES['']}'>{arrow if i == 0 else ''}"
        f"{html.escape(line)}</div>"
        for i, line in enumerate(card["lines"])
    )
    return (
        f"<div class='nk-card' title='{html.escape(card['definition'], quote=True)}' style='border:1px solid #d0d7de;"
        "border-radius:8px;padding:0.6rem 0.75rem;height:100%;box-sizing:border-box;overflow-wrap:anywhere'>"
        f"<div style='font-size:0.85rem;color:#57606a'>{html.escape(card['label'])}</div>"
        f"<div style='font-size:1.45rem;font-weight:600;margin:0.15rem 0'>{html.escape(card['value'])}</div>"
        f"<div style='font-size:0.75rem;line-height:1.25'>{lines}</div></div>"
    )


def coverage_notes(comparison: Comparison, fmt: Formats, operator: bool) -> str:
    """Markdown: each comparison period that is not fully loaded, and how to load it (a link
    to the operations page for the operator; for a viewer, who to ask); '' when all are."""
    lines = []
    for against in AGAINST:
        covered = comparison.coverage[against]
        if covered.full:
            continue
        note = covered.note(fmt)
        how = (
            f"[Load it on the Operations page]({covered.load_link()})"
            if operator
            else "An operator can load it on the Operations page"
        )
        lines.append(f"- {note[0].upper()}{note[1:]}: no comparison with it. {how}.")
    if comparison.like_for_like is not None:
        lines.append(f"- Last year, {comparison.like_for_like.note()}.")
    return "\n".join(lines)


def definitions(comparison: Comparison, extra: dict[str, str] | None = None) -> str:
    """Markdown: one sentence per figure of the page (and ``extra`` ones: ``{label: sentence}``)."""
    items = {row["label"]: row["definition"] for row in comparison.kpis.to_dict("records")}
    items.update(extra or {})
    return "  \n".join(f"**{label}**: {text}" for label, text in items.items())
