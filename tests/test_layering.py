"""The house's data flow, read from the source: which package may import which, and no import cycles.

pruning -> artifact -> sparsesim (+ accel_models) -> analysis, with ``sparsecodesign.fileio`` (generic file I/O)
under every floor and the ``sparsecodesign`` API facade on top.  Every import counts, including the ones inside
functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pruning", "sparsesim", "accel_models", "analysis", "sparsecodesign")
FILEIO = "sparsecodesign.fileio"
MAY_IMPORT = {  # package -> the project packages (besides itself and fileio) it may import
    "pruning": set(),
    "accel_models": set(),
    "sparsesim": {"pruning", "accel_models"},
    "analysis": {"pruning", "accel_models", "sparsesim"},
    "sparsecodesign": {"pruning", "accel_models", "sparsesim", "analysis"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every project module ``path`` imports (absolute names; ``from pkg import mod`` resolves to ``pkg.mod``)."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] in PACKAGES}


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    return {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}


GRAPH = _graph()


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_module_imports_upward(module):
    package = module.split(".")[0]
    if module == FILEIO:
        assert not GRAPH[module], f"{FILEIO} must import nothing of the project, imports {sorted(GRAPH[module])}"
        return
    allowed = MAY_IMPORT[package] | {package}
    bad = sorted(i for i in GRAPH[module] if i.split(".")[0] not in allowed and i not in (FILEIO, "sparsecodesign"))
    assert not bad, f"{module} imports {bad}; {package} may import only {sorted(allowed)} and {FILEIO}"


def test_the_floors_import_only_fileio_from_the_facade_package():
    """``sparsecodesign`` is the API on top; the floors below may use its ``fileio`` module and nothing else."""
    for module, deps in GRAPH.items():
        if module.split(".")[0] != "sparsecodesign":
            bad = sorted(d for d in deps if d.startswith("sparsecodesign.") and d != FILEIO)
            assert not bad, f"{module} imports {bad} from the API facade"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_no_import_cycles_between_modules():
    """A package's ``__init__`` importing its submodules is not a cycle; any other loop is."""
    graph = {m: {d for d in deps if not (d in GRAPH and m.startswith(d + "."))} for m, deps in GRAPH.items()}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph))}"


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_accel_models_holds_descriptions_only():
    """No runner under ``accel_models``: it imports neither torch (the measured engine is ``sparsesim.measured``)
    nor anything of the floors above it."""
    for path in sorted((ROOT / "accel_models").rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names.add((node.module or "").split(".")[0])
        bad = sorted(names & {"torch", "sparsesim", "analysis", "pruning"})
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}; accel_models holds hardware descriptions only"
