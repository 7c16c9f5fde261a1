"""nkdash.web.shims: each shim still fits the marimo installed, and does what it says.

These fail when marimo changes underneath a shim: then read nkdash/web/shims.py, and drop
the shim if marimo fixed what it works around."""

from __future__ import annotations

import json
import subprocess
import sys

from nkdash.notebooks import NOTEBOOKS_DIR

MARIMO_AS_SHIPPED = """
import json
from marimo._ast import compiler
cache = compiler._build_source_position_map
print(json.dumps({"maxsize": cache.cache_parameters()["maxsize"], "wrapped": hasattr(cache, "__wrapped__")}))
"""


def test_marimo_still_caches_the_source_positions_of_one_file():
    """What the shim works around: marimo's one-entry cache (if this fails because marimo
    caches more files, the shim can go)."""
    run = subprocess.run([sys.executable, "-c", MARIMO_AS_SHIPPED], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == {"maxsize": 1, "wrapped": True}


def test_compiling_cells_of_two_notebooks_in_turn_parses_each_once():
    from marimo._ast import compiler

    from nkdash.web.shims import SOURCE_POSITION_FILES, widen_source_position_cache

    assert widen_source_position_cache()
    assert compiler._build_source_position_map.cache_parameters()["maxsize"] >= SOURCE_POSITION_FILES
    compiler._build_source_position_map.cache_clear()
    files = [str(NOTEBOOKS_DIR / "sales.py"), str(NOTEBOOKS_DIR / "purchases.py")]
    for _ in range(3):  # what sessions of two dashboards starting side by side do
        for i, file in enumerate(files):
            cell = compiler.compile_cell("x = 1", cell_id=f"c{i}", filename=file)  # marimo looks its position up
            assert cell is not None
    info = compiler._build_source_position_map.cache_info()
    assert (info.misses, info.hits) == (2, 4)
    assert widen_source_position_cache()  # a second call changes nothing


MARIMO_ENTRY_POINTS = """
import importlib.metadata, inspect, json
from marimo._entrypoints import registry
print(json.dumps({
    "reads_importlib": registry.entry_points is importlib.metadata.entry_points,
    "called_bare": "entry_points()" in inspect.getsource(registry.get_entry_points),
}))
"""


def test_marimo_still_reads_the_entry_points_on_every_registry_lookup():
    run = subprocess.run([sys.executable, "-c", MARIMO_ENTRY_POINTS], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == {"reads_importlib": True, "called_bare": True}


def test_entry_points_are_read_once():
    from marimo._entrypoints import registry

    from nkdash.web.shims import cache_entry_points

    assert cache_entry_points()
    registry.entry_points.cache_clear()
    first = registry.get_entry_points("marimo.cell.executor")
    assert list(registry.get_entry_points("marimo.cell.executor")) == list(first)
    assert registry.entry_points.cache_info().misses == 1
    assert cache_entry_points()  # a second call changes nothing


def test_marimo_still_compiles_cells_through_ast_compile():
    import inspect

    from marimo._ast import compiler

    assert "ast_compile(" in inspect.getsource(compiler.module_compile)
    assert "ast_compile(" in inspect.getsource(compiler.compile_cell)


def test_syntax_trees_are_built_one_thread_at_a_time():
    import ast
    import threading

    from marimo._ast import compiler

    from nkdash.web.shims import serialize_syntax_trees

    assert serialize_syntax_trees()
    assert getattr(compiler.ast_compile, "__nkdash_locked__", False)
    assert getattr(ast.parse, "__nkdash_locked__", False)
    assert serialize_syntax_trees()  # a second call wraps nothing twice
    assert getattr(compiler.ast_compile, "__wrapped__", None) is not None
    assert not getattr(compiler.ast_compile.__wrapped__, "__nkdash_locked__", False)
    failures: list[BaseException] = []
    code = (NOTEBOOKS_DIR / "sales.py").read_text()

    def compile_cells() -> None:
        try:
            for i in range(20):
                compiler.compile_cell("x = [y for y in range(3)]\nx", cell_id=f"t{i}")
                ast.parse(code)
        except BaseException as exc:  # noqa: BLE001 — what the race raises (SystemError) is what is checked
            failures.append(exc)

    threads = [threading.Thread(target=compile_cells) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
