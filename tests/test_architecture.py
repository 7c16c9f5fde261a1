"""The map of the code holds: every module is on ARCHITECTURE.md's map, modules stay small,
imports go down the layers, no module shadows the standard library, test modules import
only ``tests.support``, and ``nkdash.__all__`` names what ``import nkdash`` offers.

These tests read the repository; each failure says what to change.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

import nkdash
from tests.support.processes import REPO

PACKAGE = REPO / "nkdash"
TESTS = REPO / "tests"
MAP = REPO / "ARCHITECTURE.md"
HERE = Path(__file__).relative_to(REPO)
SUFFIXES = (".py", ".toml", ".ipynb")  # code, and the data files shipped with it
MAX_LINES = 600
LONG_DATA_MODULES = {  # module -> why it may be longer than MAX_LINES
    "demo/generate/catalogue.py": "the company's static data (departments, goods, shops, names), no logic",
}
NOT_ON_THE_MAP_YET: dict[str, str] = {}  # module -> why ARCHITECTURE.md does not name it yet (remove once it does)

# The layers of ARCHITECTURE.md's table ("Data flows one way"), keyed as the table names them:
# a module of layer N imports only nkdash modules of layers <= N.
LAYERS = {
    "errors.py": 0,
    "settings.py": 0,
    "dates.py": 0,
    "processes.py": 0,
    "notebooks/__init__.py": 0,  # the notebooks' registry
    "odoo/": 1,
    "demo/": 1,
    "lake/": 2,
    "meta/": 2,
    "etl/": 3,
    "storage/": 4,
    "jobs/": 4,
    "alerts/": 4,
    "dashboards/": 5,
    "ops/": 5,
    "web/": 6,
    "cli/": 6,
    "notebooks/*.py": 6,  # the marimo notebooks are callers
}
CALLER = 6
NOT_IN_THE_TABLE = {"__main__.py": CALLER}  # ``python -m nkdash`` is the nkdash command
PUBLIC_API = "__init__.py"  # nkdash/__init__.py re-exports every layer: exempt; importing it is a caller's right


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def shipped(path: Path) -> bool:
    """Not a cache or a tool's scratch (``__pycache__``, marimo's ``__marimo__``, ``.ipynb_checkpoints``)."""
    return not any(part in ("__pycache__", "__marimo__") or part.startswith(".") for part in path.parts)


def package_files(*suffixes: str) -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if p.suffix in suffixes and shipped(p.relative_to(PACKAGE)))


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


# ----------------------------------------------------------------------------- the map
def test_every_module_is_named_on_the_map():
    text = MAP.read_text()
    missing = {relative(p) for p in package_files(*SUFFIXES) if f"`{relative(p)}`" not in text}
    unexpected = sorted(missing - NOT_ON_THE_MAP_YET.keys())
    assert not unexpected, (
        f"ARCHITECTURE.md does not name {unexpected}: add a line for each to its package's table "
        "(the path relative to nkdash/, in backticks, e.g. `lake/writer.py`, and what it holds)"
    )
    named_now = sorted(NOT_ON_THE_MAP_YET.keys() - missing)
    assert not named_now, f"ARCHITECTURE.md names {named_now} now: remove them from NOT_ON_THE_MAP_YET in {HERE}"


# ----------------------------------------------------------------------------- size
def test_no_module_is_over_600_lines():
    long = {relative(p): line_count(p) for p in package_files(".py") if line_count(p) > MAX_LINES}
    unexpected = {name: lines for name, lines in long.items() if name not in LONG_DATA_MODULES}
    assert not unexpected, (
        f"modules over {MAX_LINES} lines: {unexpected}. Split each by concern (one module per concern, "
        f"ARCHITECTURE.md); only data modules may be longer, listed in LONG_DATA_MODULES in {HERE} with a reason"
    )
    short_now = sorted(LONG_DATA_MODULES.keys() - long.keys())
    assert not short_now, (
        f"{short_now} are {MAX_LINES} lines or fewer now (or gone): remove them from LONG_DATA_MODULES"
    )


# ----------------------------------------------------------------------------- layers
def layer_of(name: str) -> int:
    """The layer of a module given by its path relative to nkdash/ (``lake/writer.py``)."""
    if name in LAYERS:
        return LAYERS[name]
    if name in NOT_IN_THE_TABLE:
        return NOT_IN_THE_TABLE[name]
    if name == PUBLIC_API:
        return CALLER
    if name.startswith("notebooks/"):
        return LAYERS["notebooks/*.py"]
    top = name.split("/")[0] + "/"
    assert top in LAYERS, f"nkdash/{name} is in no layer: add its package to ARCHITECTURE.md's table and LAYERS"
    return LAYERS[top]


def module_file(module: str) -> str | None:
    """``nkdash.lake.writer`` -> ``lake/writer.py``; ``nkdash.lake`` -> ``lake/__init__.py``."""
    path = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return relative(candidate)
    return None


def is_module(root: Path, dotted: str) -> bool:
    path = root.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in ``path`` (a file under the package ``root``),
    those inside functions too; an imported name counts as its submodule when it is one
    (``from nkdash import dates`` imports ``nkdash.dates``)."""
    package = path.relative_to(root.parent).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.append((node.lineno, sub if is_module(root, sub) else module))
    return found


def test_the_layers_are_the_maps_table():
    """LAYERS here is the table of ARCHITECTURE.md ("Data flows one way")."""
    table = {}
    for row in re.findall(r"^\| (\d) [^|]*\| ([^|]*) \|", MAP.read_text(), re.M):
        table.update(dict.fromkeys(re.findall(r"`([^`]+)`", row[1]), int(row[0])))
    differ = {
        key: (table.get(key), LAYERS.get(key))
        for key in table.keys() | LAYERS.keys()
        if table.get(key) != LAYERS.get(key)
    }
    assert not differ, (
        f"(ARCHITECTURE.md's layer, LAYERS') differ for {differ}: make the table and LAYERS in {HERE} agree"
    )


def test_imports_go_down_the_layers():
    wrong = []
    for path in package_files(".py"):
        name = relative(path)
        if name == PUBLIC_API:
            continue
        for line, module in imported_modules(path, PACKAGE):
            if module != "nkdash" and not module.startswith("nkdash."):
                continue
            target = module_file(module)
            assert target is not None, f"nkdash/{name}:{line} imports {module}, which does not exist"
            if layer_of(target) > layer_of(name):
                wrong.append(
                    f"nkdash/{name}:{line} (layer {layer_of(name)}) imports {module} (layer {layer_of(target)})"
                )
    assert not wrong, (
        "imports must go down the layers (ARCHITECTURE.md, 'Data flows one way'):\n  "
        + "\n  ".join(wrong)
        + "\nmove the shared code down to a lower layer, or let the caller pass it in"
    )


# ----------------------------------------------------------------------------- names
def test_no_module_is_named_like_a_standard_library_module():
    names = {p.stem: relative(p) for p in package_files(".py") if p.stem not in ("__init__", "__main__")}
    names |= {p.name: relative(p) + "/" for p in PACKAGE.rglob("*") if p.is_dir() and shipped(p.relative_to(PACKAGE))}
    shadowing = sorted(path for name, path in names.items() if name in sys.stdlib_module_names)
    assert not shadowing, (
        f"{shadowing} are named like standard library modules: rename them (dates.py, not calendar.py)"
    )


@pytest.mark.parametrize("name", ["calendar.py", "queue.py"])
def test_no_calendar_or_queue_module(name):
    found = [relative(p) for p in PACKAGE.rglob(name)]
    assert not found, f"{found}: business dates live in dates.py and the queue in jobs/, not in {name}"


# ----------------------------------------------------------------------------- tests
def test_no_test_module_imports_another():
    wrong = []
    for path in sorted(TESTS.rglob("*.py")):
        for line, module in imported_modules(path, TESTS):
            last = module.split(".")[-1]
            if module.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                wrong.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not wrong, (
        "test modules import only tests.support (ARCHITECTURE.md, 'Tests'):\n  "
        + "\n  ".join(wrong)
        + "\nmove the helpers it needs to tests/support/ and its fixtures to tests/conftest.py (fixtures are "
        "registered there, never imported)"
    )


# ----------------------------------------------------------------------------- the public API
def test_every_name_of_all_exists():
    missing = [name for name in nkdash.__all__ if not hasattr(nkdash, name)]
    assert not missing, (
        f"nkdash.__all__ lists {missing}, which `import nkdash` does not provide: add each to _LAZY (with the "
        "module that defines it) in nkdash/__init__.py, or drop it from __all__"
    )
