"""The house's data flow, read from the source: which package may import which, and no import cycles.

pruning -> artifact -> sparsesim (+ accel_models) -> analysis -> the ``sparsecodesign`` API facade on top, all
standing on ``fileguard`` (generic file I/O: bounded reads, strict YAML, atomic writes, output locks), the ground
floor, which imports no project package.  Every import counts, including the ones inside functions (a lazy import
is still a dependency).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GROUND = "fileguard"   # the lowest floor: every other package may import it, it imports none of them
PACKAGES = (GROUND, "pruning", "sparsesim", "accel_models", "analysis", "sparsecodesign")
MAY_IMPORT = {  # package -> the project packages (besides itself) it may import
    GROUND: set(),
    "pruning": {GROUND},
    "accel_models": {GROUND},
    "sparsesim": {GROUND, "pruning", "accel_models"},
    "analysis": {GROUND, "pruning", "accel_models", "sparsesim"},
    "sparsecodesign": {GROUND, "pruning", "accel_models", "sparsesim", "analysis"},
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
    allowed = MAY_IMPORT[package] | {package}
    bad = sorted(i for i in GRAPH[module] if i.split(".")[0] not in allowed)
    assert not bad, f"{module} imports {bad}; {package} may import only {sorted(allowed)}"


def test_every_package_is_placed_on_a_floor():
    """A new top-level package must be given its floor here before the test above can judge it."""
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert found == set(MAY_IMPORT), f"packages without a floor: {sorted(found - set(MAY_IMPORT))}"


def test_the_ground_floor_imports_no_project_package():
    """``fileguard`` stands on the standard library and PyYAML only: importing it loads no other project package
    (checked in a fresh interpreter, so a lazy or indirect import would show)."""
    assert all(not deps or all(d.startswith(GROUND) for d in deps)
               for m, deps in GRAPH.items() if m.startswith(GROUND))
    probe = (f"import sys, {GROUND}; print(sorted(m for m in sys.modules if m.split('.')[0] in "
             f"{PACKAGES!r} and m.split('.')[0] != {GROUND!r}))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr[-2000:]


def test_the_facade_needs_no_lazy_imports():
    """No floor reaches up into ``sparsecodesign``, so its ``__init__`` imports the API plainly (no module
    ``__getattr__`` deferring it to break a cycle)."""
    tree = ast.parse((ROOT / "sparsecodesign" / "__init__.py").read_text())
    assert not any(isinstance(n, ast.FunctionDef) and n.name == "__getattr__" for n in tree.body)
    assert not [m for m, deps in GRAPH.items() if m.split(".")[0] != "sparsecodesign"
                and any(d.split(".")[0] == "sparsecodesign" for d in deps)]


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
