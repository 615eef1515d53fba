"""The package's layout: the README's table names every sub-package and module as they are, and no
module imports another that imports it back (at any depth, counting imports inside functions)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "ingest"
ROW = re.compile(r"^\| `ingest/(?P<folder>[a-z_]*/?)` \| (?P<what>.*) \|$", re.M)


def _modules(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}


def _readme_rows() -> dict[str, set[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {}
    for m in ROW.finditer(text):
        what = m.group("what")
        if m.group("folder") == "":  # the top row lists the top-level modules before the folders
            what = what.split("and a folder per stage")[0]
        rows[m.group("folder").rstrip("/")] = set(re.findall(r"`([a-z_]+)`", what))
    return rows


def test_readme_layout_table_matches_the_package() -> None:
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    actual = {"": _modules(PACKAGE) - {"__main__"}} | {name: _modules(PACKAGE / name) - {"__main__"}
                                                       for name in subpackages}
    assert _readme_rows() == actual


def test_every_subpackage_says_what_it_owns() -> None:
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "\n" not in doc.strip(), f"{init.relative_to(ROOT)} needs a one-line docstring"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                               for a in node.names)
        # a package's __init__ is a namespace here, not a dependency
        graph[name] = {t for t in targets if t in files and t != name and (PACKAGE / "__init__.py") != files[t]}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_module_imports_itself_back() -> None:
    assert _cycles(_import_graph()) == []


def test_no_stage_imports_itself_back() -> None:
    def stage(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 2 else module

    stages: dict[str, set[str]] = {}
    for module, targets in _import_graph().items():
        stages.setdefault(stage(module), set()).update(stage(t) for t in targets if stage(t) != stage(module))
    assert _cycles(stages) == []


def test_no_module_is_much_over_400_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 440}
    assert long == {}
