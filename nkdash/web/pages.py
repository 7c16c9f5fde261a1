"""The few HTML pages nkdash serves itself: login and index."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.responses import HTMLResponse

from nkdash.notebooks import Notebook, may_open
from nkdash.ops.health import Health
from nkdash.web.auth import LOCAL_USER

if TYPE_CHECKING:
    from nkdash.web.auth import User


STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse}td,th{padding:.2rem .8rem;border-bottom:1px solid #ddd;text-align:left}
.ok{color:#17703a}.late,.degraded{color:#a86400}.critical,.fail,.error{color:#b00020}form.inline{display:inline}
label{display:block;margin:.5rem 0}input{font:inherit;padding:.2rem}
header{display:flex;justify-content:space-between;align-items:center}"""


def html_page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · nkdash</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,"><style>{STYLE}</style></head>'
        f"<body>{body}</body></html>"
    )


PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def safe_next(target: str | None) -> str:
    """Only a path on this site (no ``//host`` or scheme): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def login_page(
    next_: str, error: str = "", status: int = 200, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    body = (
        f"<h1>nkdash</h1>{f'<p class=error>{html.escape(error)}</p>' if error else ''}"
        f'<form method="post" action="/login"><input type="hidden" name="next" value="{html.escape(next_)}">'
        '<label>User <input name="username" autocomplete="username" required autofocus></label>'
        '<label>Password <input name="password" type="password" autocomplete="current-password" required>'
        '</label><button type="submit">Log in</button></form>'
    )
    return HTMLResponse(html_page("Log in", body), status, headers={**PAGE_HEADERS, **(headers or {})})


def index_page(user: User, notebooks: list[Notebook], health: Health) -> HTMLResponse:
    links = "".join(
        f'<li><a href="{nb.path}/">{html.escape(nb.title)}</a> — {html.escape(nb.description)}</li>'
        for nb in notebooks
        if may_open(user.role, nb.role)
    )
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{d['last_loaded'] or 'never'}</td>"
        f"<td class='{d['status']}'>{d['status']}</td><td>{d['missing']}</td><td>{d['failed']}</td>"
        f"<td>{d.get('archived_before') or '-'}</td></tr>"
        for name, d in health.lake["datasets"].items()
    )
    archive = health.lake.get("archive") or {}
    archived = (
        f"<p class='{'degraded' if archive.get('inside_retention') else ''}'>Dates before {archive['before']} are "
        "archived: the dashboards do not show them"
        + (
            f" — inside the retention window (NKDASH_RETENTION_YEARS keeps {archive.get('keep_from')} onwards)"
            if archive.get("inside_retention")
            else ""
        )
        + ".</p>"
        if archive.get("before")
        else ""
    )
    logout = (
        '<form class=inline method="post" action="/logout"><button type="submit">Log out</button></form>'
        if user is not LOCAL_USER
        else ""
    )
    body = (
        f"<header><h1>nkdash</h1><div>{html.escape(user.name)} ({user.role}) {logout}</div></header>"
        f"<h2>Notebooks</h2><ul>{links or '<li>No notebook is installed yet.</li>'}</ul>"
        f"<h2>Data freshness</h2><p>Overall: <span class='{health.status}'>{health.status}</span></p>"
        f"{archived}<table><tr><th>dataset</th><th>last loaded</th><th>status</th><th>missing dates</th>"
        f"<th>failed dates</th><th>archived before</th></tr>{rows}</table>"
    )
    return HTMLResponse(html_page("Index", body), headers=PAGE_HEADERS)
