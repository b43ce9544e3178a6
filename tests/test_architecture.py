"""The package's shape: imports flow one way between its layers, no cycles, small modules.

Read from the source with ``ast`` (function-level imports included), so the check
needs no TensorFlow and sees imports that only run on some paths.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nmt"

# What each layer may import. The base is the modules every layer shares: special ids,
# errors, the config schema, atomic writes, freed memory, progress bars and TensorFlow's flags.
ALLOWED = {
    "base": {"base"},
    "data": {"base", "data"},
    "model": {"base", "model"},
    "fast": {"base", "model", "fast"},
    "modeldir": {"base", "data", "model", "modeldir"},
    "viz": {"base", "viz"},
    "decoding": {"base", "data", "model", "fast", "modeldir", "decoding"},
    "training": {"base", "data", "model", "fast", "modeldir", "decoding", "viz", "training"},
    "synthetic": {"base", "data", "model", "viz", "synthetic"},
    "bench": {"base", "data", "model", "fast", "modeldir", "decoding", "training", "bench"},
    "serve": {"base", "decoding", "viz", "serve"},
    "cli": set(),  # the top: anything
}
BASE = {
    "nmt",
    "nmt.constants",
    "nmt.errors",
    "nmt.config",
    "nmt.config_rules",
    "nmt.files",
    "nmt.memory",
    "nmt.progress",
}
MAX_LINES = 300


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    if module in BASE or module == "nmt.fast.env":  # env must run before TensorFlow loads
        return "base"
    if module == "nmt.__main__":
        return "cli"
    return module.split(".")[1]


def nmt_imports(path: Path) -> set[str]:
    """The ``nmt`` modules a file imports (``from nmt.x import y`` counts ``nmt.x.y`` when
    ``y`` is a module, else ``nmt.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "nmt"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "nmt":
                continue
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
    return found


FILES = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(p) for p in FILES}


def test_the_package_is_found():
    assert len(FILES) > 30 and "nmt.model.decoder" in MODULES and "nmt.fast.loops" in MODULES


@pytest.mark.parametrize("path", FILES, ids=lambda p: module_name(p))
def test_imports_flow_one_way(path):
    source = layer(module_name(path))
    allowed = ALLOWED[source]
    wrong = sorted(
        m for m in nmt_imports(path) if allowed and layer(m) not in allowed and m != "nmt"
    )
    assert not wrong, f"{module_name(path)} ({source}) imports {wrong}"


def test_the_model_never_imports_the_fast_paths():
    for path in (PACKAGE / "model").glob("*.py"):
        assert not [m for m in nmt_imports(path) if m.startswith("nmt.fast")], path


def test_no_import_cycles():
    graph = {module_name(p): nmt_imports(p) & MODULES for p in FILES}
    done, active = set(), []

    def visit(module):
        if module in active:
            cycle = active[active.index(module) :] + [module]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        active.append(module)
        for imported in sorted(graph.get(module, ())):
            # A package's __init__ runs before its modules: nmt.x.y implies nmt.x, not a cycle.
            if not module.startswith(imported + "."):
                visit(imported)
        active.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


@pytest.mark.parametrize("path", FILES, ids=lambda p: module_name(p))
def test_no_module_over_300_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)} has {lines} lines"


def test_the_checker_catches_a_wrong_way_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from nmt.fast import loops\n", encoding="utf-8")
    assert "nmt.fast.loops" in nmt_imports(bad)
    assert layer("nmt.fast.loops") not in ALLOWED["model"]
