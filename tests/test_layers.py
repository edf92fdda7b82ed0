"""The package's layering: no import circles, and the figures never import the report above them.

Imports are read from the source with ``ast`` (nothing is imported), wherever they stand: at
the top, inside ``if TYPE_CHECKING:`` and inside functions, because a circle that only type
checkers or a late call walk is still a circle a reader has to untangle. The parent packages
an import runs implicitly (``import a.b.c`` executes ``a/__init__``) are not counted.
"""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import smoothlearn

PACKAGE = Path(smoothlearn.__file__).parent


def module_files(root: Path) -> dict[str, Path]:
    """Every module under ``root`` (a package directory) by dotted name."""
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imported(node: ast.AST, package: str, known: set[str]) -> Iterator[str]:
    """The modules one import statement names (``from p import m``: ``p.m`` when a module)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            yield sub if sub in known else base


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, counting every import statement."""
    files = module_files(root)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {target for node in ast.walk(tree)
                       for target in _imported(node, package, set(files))
                       if target in files and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` ([] when there is none)."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        return list(err.args[1])
    return []


def test_the_package_has_no_import_circles():
    cycle = find_cycle(import_graph(PACKAGE))
    assert not cycle, " -> ".join(cycle)


def test_the_figures_never_import_the_report():
    graph = import_graph(PACKAGE)
    upward = sorted(f"{mod} -> {dep}" for mod, deps in graph.items()
                    if mod.startswith("smoothlearn.figures") for dep in deps
                    if dep.startswith("smoothlearn.report"))
    assert not upward


@pytest.mark.parametrize("guard", ["if TYPE_CHECKING:\n    ", "def late():\n    ", ""])
def test_a_circle_is_found_wherever_its_import_stands(tmp_path, guard):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\n"
                                      f"{guard}from .. import a\n")
    assert sorted(set(find_cycle(import_graph(pkg)))) == ["pkg.a", "pkg.sub.b"]


def test_a_layered_package_has_no_circle(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("import os\n")
    (pkg / "high.py").write_text("from pkg import low\nfrom pkg.low import os\n")
    assert import_graph(pkg) == {"pkg": set(), "pkg.low": set(), "pkg.high": {"pkg.low"}}
    assert find_cycle(import_graph(pkg)) == []
