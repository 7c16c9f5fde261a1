"""The ``nkdash`` command line.

Every command is a thin caller of a library function. Any :class:`NKDashError` becomes
one line on stderr and a non-zero exit (2 for bad input or settings); so does a file that
cannot be written or read (a full disk, a read-only lake: exit 1). Never a traceback for
a user mistake or the machine's state, never a secret.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

from nkdash.errors import InputError, NKDashError

Handler = Callable[[argparse.Namespace], int | None]


_COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Handler]] = []


H = TypeVar("H", bound=Handler)


def command(
    name: str, help: str, configure: Callable[[argparse.ArgumentParser], None] = lambda p: None
) -> Callable[[H], H]:
    """Register ``fn`` as ``nkdash NAME``; ``configure`` adds its arguments."""

    def register(fn: H) -> H:
        _COMMANDS.append((name, help, configure, fn))
        return fn

    return register


def confirm(question: str, *, yes: bool, what: str, typed: str | None = None) -> None:
    """Go on only if ``yes`` (``--yes``) or the operator answers yes on a terminal (types
    ``typed`` for the actions that remove data); else one line, exit 2, nothing changed.
    Without a terminal and without ``--yes`` it refuses."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError(f"{what} not confirmed: not on a terminal, nothing changed (pass --yes to go ahead)")
    if typed is not None:
        if input(f"{question} Type {typed!r} to go ahead: ").strip() != typed:
            raise InputError(f"{what} not confirmed: nothing changed (pass --yes to skip the question)")
    elif input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise InputError(f"{what} not confirmed: nothing changed (pass --yes to skip the question)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        self.exit(2, f"nkdash: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    _load_command_modules()
    parser = _Parser(
        prog="nkdash",
        description=(
            "Odoo -> parquet star-schema lake -> marimo dashboards. "
            "Settings come from the environment and .env (see .env.example); "
            "with no ODOO_URL the embedded demo Odoo is used."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_, configure, fn in _COMMANDS:
        p = sub.add_parser(name, help=help_, description=help_)
        configure(p)
        p.set_defaults(handler=fn)
    return parser


def _load_command_modules() -> None:
    """Import the modules whose commands register themselves (late: keeps start-up light)."""
    import importlib

    for module in (
        "nkdash.cli.setup",
        "nkdash.cli.etl",
        "nkdash.cli.recovery",
        "nkdash.cli.web",
        "nkdash.cli.jobs",
        "nkdash.cli.storage",
        "nkdash.cli.alerts",
    ):
        importlib.import_module(module)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        logging.basicConfig(
            level=logging.INFO if args.verbose else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        return int(args.handler(args) or 0)
    except NKDashError as exc:
        hint = getattr(exc, "hint", "")
        print(f"nkdash: error: {exc}" + (f" ({hint})" if hint else ""), file=sys.stderr)
        return exc.exit_code
    except (OSError, sqlite3.Error) as exc:  # disk full, read-only file system, permissions
        detail = " ".join(str(exc).split())
        print(
            f"nkdash: error: {type(exc).__name__}: {detail} (a file could not be written or read: "
            "disk full, read-only or permissions?)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("nkdash: interrupted", file=sys.stderr)
        return 130
