"""Foundation commands: the demo Odoo, an Odoo connectivity check, the settings."""

from __future__ import annotations

import argparse
import datetime as dt

from nkdash.cli.main import command
from nkdash.settings import get_settings


def _demo_args(p: argparse.ArgumentParser) -> None:
    s = get_settings()
    p.add_argument("--port", type=int, default=8069, help="port on 127.0.0.1 (default 8069)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--version",
        type=int,
        choices=(16, 17, 18, 19),
        default=s.demo_version,
        help="Odoo version to play (default NKDASH_DEMO_VERSION or 17)",
    )
    p.add_argument("--seed", type=int, default=s.demo_seed, help="data seed (default 42)")
    p.add_argument("--scale", default=s.demo_scale, help="tiny, small, medium or full (default small)")
    p.add_argument("--days", type=int, default=s.demo_days, help="days of history (default 60)")
    p.add_argument(
        "--end",
        type=_iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="last business date with activity (default yesterday)",
    )


def _iso_date(text: str) -> dt.date:
    from nkdash.dates import parse_date
    from nkdash.errors import InputError

    try:
        return parse_date(text)
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


@command("odoo-demo", "serve the demo Odoo (database 'demo', login admin/admin)", _demo_args)
def odoo_demo(args: argparse.Namespace) -> int:
    from nkdash.demo import start_demo
    from nkdash.demo.generate import SCALES, DemoConfig
    from nkdash.errors import InputError

    if args.scale not in SCALES:
        raise InputError(f"unknown scale {args.scale!r}; choose from {', '.join(SCALES)}", args.scale)
    config = DemoConfig(version=args.version, seed=args.seed, scale=args.scale, days=args.days, end=args.end)
    server = start_demo(config, port=args.port, host=args.host)
    print(
        f"demo Odoo {args.version}.0 at {server.url}  database={config.db_name} "
        f"login={config.login} (password: see docs)  — Ctrl+C to stop",
        flush=True,
    )
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


@command("odoo-check", "check that Odoo is reachable and the credentials work")
def odoo_check(args: argparse.Namespace) -> int:
    from nkdash.odoo import connect

    settings = get_settings()
    client = connect(settings)
    where = "the embedded demo Odoo" if settings.uses_demo else settings.odoo_url_shown
    print(
        f"ok: Odoo {client.version} at {where}, database {client.db!r}, user {client.login!r} "
        f"(uid {client.uid}), protocol {client.protocol}, timezone {client.user_tz()}"
    )
    return 0


@command("settings", "show the effective settings (secrets masked)")
def show_settings(args: argparse.Namespace) -> int:
    for key, value in get_settings().public().items():
        print(f"{key:18} {value}")
    return 0


def _up_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--days",
        type=int,
        default=30,
        help="days to load when the lake is empty (default 30); otherwise the daily catch-up runs",
    )
    p.add_argument("--port", type=int, default=None, help="web port (default NKDASH_WEB_PORT; 0 = a free one)")
    p.add_argument("--no-serve", action="store_true", help="load and validate, then exit (no worker, no web app)")
    p.add_argument(
        "--demo", action="store_true", help="run on the embedded demo company (writes ODOO_URL=demo into .env)"
    )


@command("up", "bring everything up: load the lake from Odoo (or --demo), validate, worker + web app", _up_args)
def up_command(args: argparse.Namespace) -> int:
    import logging
    import os
    import sys

    from nkdash.cli.up import up
    from nkdash.errors import InputError

    if not 1 <= args.days <= 366:
        raise InputError(f"--days must be between 1 and 366, got {args.days}", args.days)
    code = up(
        days=args.days, serve=not args.no_serve, port=args.port, demo=args.demo, say=lambda m: print(m, flush=True)
    )
    if args.no_serve:
        return code
    logging.shutdown()  # served notebooks leave native threads behind: skip finalization (see serve)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
