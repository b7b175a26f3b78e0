"""The import layers hold: lower layers never import higher ones, and no package has a cycle.

Every import counts, including those under ``TYPE_CHECKING`` and inside functions: a cycle of
type-only imports is still two modules that cannot be read, moved or tested one without the
other. The graph is read from the source (``ast``), not by importing it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("chalicelib", "devstack", "deploy", "ingest_cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` is an import of the module; a name that is not a module
            # (a class, a constant) is an import of the package's __init__.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            known = target
            while known and known not in MODULES:
                known = known.rpartition(".")[0]
            if known and known != name:
                found.add(known)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# (importer, imported): no module of the first may import any module of the second.
FORBIDDEN = [
    ("chalicelib.csvfile", "chalicelib.pipeline"),
    ("chalicelib.csvfile", "chalicelib.api"),
    ("chalicelib.csvfile", "chalicelib.backups"),
    ("chalicelib.csvfile", "chalicelib.warehouse"),
    ("chalicelib.warehouse", "chalicelib.pipeline"),
    ("chalicelib.warehouse", "chalicelib.api"),
    ("chalicelib.warehouse", "chalicelib.backups"),
    ("chalicelib.pipeline", "chalicelib.api"),
    ("chalicelib.pipeline", "chalicelib.backups"),
    ("chalicelib.backups", "chalicelib.api"),
    ("chalicelib.backups", "chalicelib.pipeline"),
    # Wiring is at the top: only the handlers, the routes and app.py take clients from it.
    ("chalicelib.pipeline", "chalicelib.providers"),
    ("chalicelib.csvfile", "chalicelib.providers"),
    ("chalicelib.warehouse", "chalicelib.providers"),
    ("chalicelib.backups", "chalicelib.providers"),
    ("chalicelib", "devstack"),
    ("chalicelib", "deploy"),
    ("chalicelib", "ingest_cli"),
    ("chalicelib", "app"),
    # The client is installed on its own (pyproject.toml): it knows the API, not the code.
    ("ingest_cli", "chalicelib"),
    ("ingest_cli", "devstack"),
    ("ingest_cli", "app"),
]


def test_layers_graph_covers_the_project() -> None:
    # A broken reader would find no edges and let every rule pass.
    assert len(MODULES) > 100
    assert "chalicelib.pipeline.runner" in GRAPH["chalicelib.handlers"]
    assert "chalicelib.warehouse.redshift_data" in GRAPH["chalicelib.pipeline.load_async"]
    assert sum(len(edges) for edges in GRAPH.values()) > 300


@pytest.mark.parametrize(("importer", "imported"), FORBIDDEN)
def test_layers_lower_never_import_higher(importer: str, imported: str) -> None:
    broken = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if _in(name, importer)
        for target in targets
        if _in(target, imported)
    )
    assert broken == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_layers_cycle_finder_sees_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_no_import_cycles(package: str) -> None:
    inside = {
        name: {t for t in targets if _in(t, package)}
        for name, targets in GRAPH.items()
        if _in(name, package)
    }
    assert _cycles(inside) == []


# A module past this many lines has grown a second job; split it before adding to it.
MAX_MODULE_LINES = 400


def test_layers_no_chalicelib_module_outgrows_one_job() -> None:
    long = {
        name: lines
        for name, path in MODULES.items()
        if _in(name, "chalicelib") or name == "app"
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_layers_app_only_registers() -> None:
    assert len(MODULES["app"].read_text(encoding="utf-8").splitlines()) <= 150
