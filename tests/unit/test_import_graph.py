"""The shape, checked from the source: the layers import one way, no module-level import
cycles, and no module imports another package's underscore names."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["floor", "client", "api", "workflows", "activities", "workers", "cli", "scripts"]
# What each layer may import from the project; everything else is upward (or sideways).
MAY_IMPORT = {
    "floor": {"floor"},
    "client": {"client", "floor", "workflows"},
    "api": {"api", "client", "floor", "workflows"},
    "workflows": {"workflows", "floor"},
    "activities": {"activities", "client", "floor", "workflows"},
    "workers": {"workers", "activities", "client", "floor", "workflows"},
    "cli": {"cli", "client", "floor", "workflows"},
    # the bench drives the activities directly as its plain-script baseline (scripts/bench/wiring.py)
    "scripts": {"scripts", "activities", "api", "cli", "client", "floor", "workers", "workflows"},
}


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = modules()


def known(name: str) -> str | None:
    """The project module `name` is, or is inside of."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(path: Path, top_level_only: bool) -> list[tuple[str, str]]:
    """(module, name) pairs; `top_level_only`: those run when the module is imported (not in
    functions, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    nodes = list(run_at_import(tree)) if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            out.extend((a.name, "") for a in node.names)
        elif node.module and node.level == 0:
            out.extend((node.module, a.name) for a in node.names)
    return out


def run_at_import(node: ast.AST):
    """The import statements executed when the module is imported: not those inside functions
    (they run when called) nor under `if TYPE_CHECKING:`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from run_at_import(child)


def dependencies(top_level_only: bool) -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        deps = set()
        for module, imported in imports(path, top_level_only):
            submodule = known(f"{module}.{imported}") if imported else None
            if submodule == f"{module}.{imported}":
                deps.add(submodule)  # `from package import submodule`: the submodule, not the package
            elif target := known(module):
                deps.add(target)
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_level_import_cycles():
    assert cycles(dependencies(top_level_only=True)) == []


def test_layers_import_one_way():
    upward = [
        f"{name} imports {dep}"
        for name, deps in dependencies(top_level_only=False).items()
        for dep in deps
        if dep.split(".")[0] not in MAY_IMPORT[name.split(".")[0]]
    ]
    assert upward == []


def test_floor_never_imports_temporal():
    for name, path in MODULES.items():
        if name.split(".")[0] == "floor":
            assert not any(m.startswith("temporalio") for m, _ in imports(path, False)), name


def test_no_module_imports_another_packages_underscore_names():
    crossing = [
        f"{name} imports {module}.{imported}"
        for name, path in MODULES.items()
        for module, imported in imports(path, top_level_only=False)
        if imported.startswith("_") and module.split(".")[0] != name.split(".")[0]
    ]
    assert crossing == []


def test_the_checker_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
