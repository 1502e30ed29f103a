"""Reads every import of Carebridge's packages with ``ast`` and says which break the layout's rules.

Every import counts: at the top of a module, inside a function, under ``if TYPE_CHECKING:``.
The rules (docs/architecture.md): layers import only downward, the engine's stations form no
circle, and no module circle exists anywhere.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

#: Each product package, bottom first, with the packages it may import.
LAYERS: dict[str, set[str]] = {
    "foundation": set(),
    "mappings": {"foundation"},
    "engine": {"foundation", "mappings"},
    "connectors": {"foundation", "mappings", "engine"},
    "routes": {"foundation", "mappings", "engine"},
    "carebridge": {"foundation", "mappings", "engine", "connectors", "routes"},
    # The Carepatron stand-in is a separate program: it shares no code with the engine.
    "simulators": {"foundation"},
}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules(root: Path) -> dict[str, Path]:
    """Every Python module of the product packages under ``root``, by dotted name."""
    modules = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            modules[module_name(root, path)] = path
    return modules


def imports_of(root: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import between product modules, wherever in a module it stands."""
    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                # ``from package import module`` imports the module itself.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    found.append(Import(name, target, node.lineno))
    return found


def layer_of(module: str) -> str:
    return module.split(".", 1)[0]


def station_of(module: str) -> str:
    """``engine.delivery.queue`` is in the station ``engine.delivery``; other packages are one unit each."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "engine" and len(parts) > 2 else parts[0]


def upward_imports(edges: list[Import]) -> list[str]:
    """Imports against the layers' order (``mappings`` importing ``engine``, ``engine`` importing ``connectors``)."""
    return [f"{edge}: {layer_of(edge.importer)} may not import {layer_of(edge.imported)}"
            for edge in edges
            if layer_of(edge.imported) != layer_of(edge.importer)
            and layer_of(edge.imported) not in LAYERS[layer_of(edge.importer)]]


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(node: str) -> None:
        # Iterative depth-first search: the import graph is deep enough to matter for recursion.
        work = [(node, iter(sorted(graph.get(node, ()))))]
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[current] = min(low[current], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[current])
            if low[current] == index[current]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == current:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def import_circles(edges: list[Import]) -> list[str]:
    """Circles between modules, and between the engine's stations (and the other packages)."""
    modules: dict[str, set[str]] = {}
    stations: dict[str, set[str]] = {}
    for edge in edges:
        modules.setdefault(edge.importer, set()).add(edge.imported)
        if station_of(edge.importer) != station_of(edge.imported):
            stations.setdefault(station_of(edge.importer), set()).add(station_of(edge.imported))
    return ([f"modules import each other: {', '.join(group)}" for group in circles(modules)]
            + [f"stations import each other: {', '.join(group)}" for group in circles(stations)])


def violations(root: Path) -> list[str]:
    """Everything under ``root`` that breaks the rules; empty when the layout holds."""
    edges = imports_of(root, product_modules(root))
    return upward_imports(edges) + import_circles(edges)


def crowded_folders(root: Path, most: int) -> list[str]:
    """Product folders holding more than ``most`` Python modules."""
    crowded = []
    for package in LAYERS:
        for folder in [root / package, *sorted(p for p in (root / package).rglob("*") if p.is_dir())]:
            count = len([p for p in folder.glob("*.py")])
            if count > most:
                crowded.append(f"{folder.relative_to(root)} holds {count} modules")
    return crowded
