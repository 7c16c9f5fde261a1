"""``nkdash serve``: the dashboards and operations notebooks, an index and ``/health``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from functools import partial
from pathlib import Path

from nkdash.cli.main import command
from nkdash.settings import get_settings


def _serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to bind (default NKDASH_WEB_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default NKDASH_WEB_PORT or 2718; 0 picks a free one)")
    p.add_argument("--notebooks", type=Path, metavar="DIR", help="notebooks directory (default: the ones nkdash ships)")
    p.add_argument("--show-tracebacks", action="store_true", help="show cell tracebacks in the pages (debugging)")
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="no login, everyone is an operator: only on a loopback address, for local use",
    )


@command("serve", "serve the notebooks (viewer/operator login), an index page and /health", _serve_args)
def serve_command(args: argparse.Namespace) -> int:
    from nkdash.notebooks import NOTEBOOKS_DIR
    from nkdash.web.app import serve

    serve(
        get_settings(),
        host=args.host,
        port=args.port,
        notebooks_dir=args.notebooks or NOTEBOOKS_DIR,
        show_tracebacks=args.show_tracebacks,
        no_auth=args.no_auth,
        announce=partial(print, flush=True),
    )
    # Stopped cleanly: sessions closed, kernels ended. Skip the interpreter's finalization, where
    # the native threads notebooks leave behind (DuckDB, Arrow) can abort the process.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
