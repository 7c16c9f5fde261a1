"""The one place nkdash changes marimo's behaviour inside the server, and why.

Each shim names the marimo function it touches, checks that it still looks as expected
before changing anything (otherwise it logs and leaves marimo alone), and has a test in
``tests/test_web_shims.py`` that fails when marimo changes underneath it.

**The source-position cache.** For every cell of every session, marimo's compiler looks
up where the cell's code sits in its notebook file (``marimo._ast.compiler.
solve_source_position``), from a map built by parsing and tokenizing the whole file
(``_build_source_position_map``), cached with ``functools.lru_cache(maxsize=1)`` keyed by
the file name. One file at a time is what ``marimo run notebook.py`` serves; ``nkdash
serve`` serves four dashboards whose sessions start side by side, so the one entry flips
between files and nearly every cell of every session parses its notebook again: a fifth
of the server's CPU with 20 viewers on the four dashboards (py-spy). The shim keeps one
entry per notebook file. In run mode the files do not change while the server runs (the
original cache is not invalidated on change either).

**The installed plugins' entry points.** Every new kernel asks ``importlib.metadata`` for
the entry points of marimo's plugin groups (``marimo._entrypoints.registry.
get_entry_points``, called by the kernel's lifespan and executor registries), and that
reads the metadata of every installed distribution again: about a tenth of a viewer's
CPU. Nothing is installed into a running server, so the shim reads them once per process.

**Python syntax trees built one thread at a time.** CPython 3.11 tracks the depth of the
conversion between syntax trees and Python objects in one interpreter-wide counter; two
threads converting at once (twenty kernels compiling their cells side by side) can trip
it: the cell fails with ``SystemError: AST constructor recursion depth mismatch``
(CPython issue 106905; one cell of twenty viewers in a benchmark run). The shim takes one
lock around marimo's ``compiler.ast_compile`` and ``ast.parse``, where marimo builds and
compiles syntax trees; each holds it a millisecond or so.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


SOURCE_POSITION_FILES = 64  # notebook files whose source positions stay cached


def widen_source_position_cache(size: int = SOURCE_POSITION_FILES) -> bool:
    """Cache the source positions of up to ``size`` notebook files instead of one; whether
    the cache is now that wide (False: marimo changed, nothing was touched)."""
    from marimo._ast import compiler

    current = getattr(compiler, "_build_source_position_map", None)
    wrapped = getattr(current, "__wrapped__", None)
    if current is None or wrapped is None or not hasattr(current, "cache_parameters"):
        log.warning("marimo's _build_source_position_map is not an lru_cache any more: shim not applied")
        return False
    if (current.cache_parameters().get("maxsize") or size) >= size:
        return True
    compiler._build_source_position_map = functools.lru_cache(maxsize=size)(wrapped)
    return True


def cache_entry_points() -> bool:
    """Read the installed distributions' entry points once per process for marimo's
    plugin registries; whether they are now cached (False: marimo changed, nothing touched)."""
    from marimo._entrypoints import registry

    current = getattr(registry, "entry_points", None)
    if getattr(current, "cache_info", None) is not None:
        return True
    if current is not importlib.metadata.entry_points or not callable(getattr(registry, "get_entry_points", None)):
        log.warning("marimo's plugin registry no longer reads importlib.metadata.entry_points: shim not applied")
        return False
    setattr(registry, "entry_points", functools.cache(importlib.metadata.entry_points))  # noqa: B010 — mypy types the name as the overloaded original
    return True


_AST_LOCK = threading.RLock()


def _one_at_a_time(fn: Callable[..., Any]) -> Callable[..., Any]:
    if getattr(fn, "__nkdash_locked__", False):
        return fn

    @functools.wraps(fn)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _AST_LOCK:
            return fn(*args, **kwargs)

    locked.__nkdash_locked__ = True  # type: ignore[attr-defined]
    return locked


def serialize_syntax_trees() -> bool:
    """Build and compile syntax trees one thread at a time in marimo's compiler and
    ``ast.parse``; whether both are now locked (False: marimo changed, nothing touched)."""
    from marimo._ast import compiler

    if not callable(getattr(compiler, "ast_compile", None)):
        log.warning("marimo's compiler has no ast_compile any more: shim not applied")
        return False
    compiler.ast_compile = _one_at_a_time(compiler.ast_compile)
    setattr(ast, "parse", _one_at_a_time(ast.parse))  # noqa: B010 — mypy types the name as the overloaded original
    return True


def apply() -> None:
    """Every shim (the web app calls this before it builds marimo's apps)."""
    widen_source_position_cache()
    cache_entry_points()
    serialize_syntax_trees()
