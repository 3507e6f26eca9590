"""The architecture holds: no import cycles, no process-wide state read inside the core.

Imports are read from the source (every `import`, at module level or inside functions, and
the `glitchzap.__init__` lazy-export table that importlib loads), so a cycle hidden behind a
function-level or importlib import is still a cycle here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "glitchzap"
CORE = ("effects", "pipeline", "rendering", "recipes", "background", "meme", "templates", "types")
# What the core may not call: process-wide state (the old singletons, and the entry points'
# own ways to reach the process runtime).
SINGLETONS = re.compile(
    r"^(get_(settings|cache|manager|library|monitor|font_cache)|current|configure|reset|use|restart)$"
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(name: str) -> str | None:
    """`name` or its closest enclosing module of ours (`a.b.c` -> `a.b` if only that exists)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    """Every module of ours that `module` imports, wherever the import statement sits."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # `from a import b`: the module a.b when there is one, else a name defined in a.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        for name in names:
            target = resolve(name)
            if target and target != module:
                found.add(target)
    if module == "glitchzap":  # the lazy exports, loaded through importlib
        table = next(
            n.value
            for n in tree.body
            if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "_EXPORTS"
        )
        found |= {resolve(v.value) for v in table.values if isinstance(v, ast.Constant)} - {None}
    return found - _type_checking_imports(tree, package)


def _type_checking_imports(tree: ast.Module, package: str) -> set[str]:
    """Imports made only for type checkers (under `if TYPE_CHECKING:`): never executed."""
    hidden: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module:
                    hidden.add(resolve(inner.module) or "")
    return hidden


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path of module names), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def package_graph() -> dict[str, set[str]]:
    """Imports between modules, with a package's `__init__` standing for the package only
    when it is imported by name (importing `a.b` runs `a/__init__` first, which is fine as
    long as `a/__init__` does not import `a.b` back)."""
    return {module: imports_of(module) for module in MODULES}


def test_there_are_no_import_cycles() -> None:
    graph = package_graph()
    assert sum(len(v) for v in graph.values()) > 100  # the reader really found the imports
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


CORE_MODULES = sorted(m for m in MODULES if m.count(".") and m.split(".")[1] in CORE)


@pytest.mark.parametrize("module", CORE_MODULES)
def test_the_core_never_reads_process_state(module: str) -> None:
    """Core functions receive the runtime (or settings) as an argument."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    called = {
        node.func.id if isinstance(node.func, ast.Name) else node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
    }
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("glitchzap")
        for alias in node.names
    }
    offending = sorted(n for n in called & imported if SINGLETONS.match(n))
    assert not offending, f"{module} calls {offending}"
    assert "glitchzap.runtime" not in imports_of(module), f"{module} imports the runtime"


def test_the_core_does_not_import_the_adapters() -> None:
    for module in MODULES:
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in CORE:
            continue
        adapters = {m for m in imports_of(module) if m.split(".")[1:2] in (["api"], ["cli"])}
        assert not adapters, f"{module} imports {sorted(adapters)}"


def test_each_feature_has_a_folder() -> None:
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert {"effects", "background", "meme", "templates", "cache", "api", "cli", "batch"} <= folders
