"""The package boundaries, read from the imports of the source tree (ast, nothing is imported):
- the virtual lab (bench/sim/) is reached only from the composition root (bench/cli.py,
  bench/session.py), and there only through its seam, the package `bench.sim` itself;
- instruments/ (drivers, transports, registry: the real-hardware side) imports nothing of bench/."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEAM = "bench.sim"
COMPOSITION_ROOT = frozenset({"bench.cli", "bench.session"})


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of the file, relative ones resolved; `from a import b`
    counts as importing a.b as well (b may be a submodule). Calls of importlib.import_module
    and __import__ with a literal name count too."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((node.lineno, module))
            out += [(node.lineno, f"{module}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module"
                   or getattr(node.func, "id", None) in ("import_module", "__import__"))):
            out.append((node.lineno, node.args[0].value))
    return out


def sources(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_tree_is_where_the_test_looks():
    names = {module_name(p) for p in sources("bench") + sources("instruments")}
    assert {"bench.cli", "bench.session", "bench.sim", "bench.sim.lab", "bench.sim.instruments.registry",
            "instruments.registry", "instruments.iec61851"} <= names


def seam_names() -> set[str]:
    """The names bench/sim/__init__.py exports (its __all__)."""
    tree = ast.parse((ROOT / "bench" / "sim" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise AssertionError("bench/sim/__init__.py declares no __all__: the seam is not written down")


def test_only_the_composition_root_imports_the_virtual_lab_and_only_through_its_seam():
    seam = {SEAM} | {f"{SEAM}.{n}" for n in seam_names()}
    wrong = []
    for path in sources("bench"):
        name = module_name(path)
        if within(name, SEAM):
            continue  # the virtual lab itself (it may import the core)
        for line, module in imported_modules(path):
            if not within(module, SEAM):
                continue
            where = f"{path.relative_to(ROOT)}:{line}: {module}"
            if name not in COMPOSITION_ROOT:
                wrong.append(f"{where} (only {', '.join(sorted(COMPOSITION_ROOT))} may import the virtual lab)")
            elif module not in seam:
                wrong.append(f"{where} (past the seam: import what {SEAM}.__all__ exports)")
    assert not wrong, "\n".join(wrong)


def test_instruments_import_nothing_of_the_bench():
    wrong = [f"{path.relative_to(ROOT)}:{line}: {module}"
             for path in sources("instruments") for line, module in imported_modules(path) if within(module, "bench")]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("source, module, expected", [
    ("from bench.sim.lab import VirtualLab", "bench.x", ["bench.sim.lab", "bench.sim.lab.VirtualLab"]),
    ("from ..sim import faults", "bench.commands.x", ["bench.sim", "bench.sim.faults"]),
    ("from . import sim", "bench.x", ["bench", "bench.sim"]),
    ("import bench.sim as s", "bench.x", ["bench.sim"]),
    ("importlib.import_module('bench.sim.lab')", "bench.x", ["bench.sim.lab"]),
])
def test_imports_are_resolved(tmp_path, monkeypatch, source, module, expected):
    """Relative imports and `from package import module` are seen (the checks above rely on it)."""
    path = tmp_path.joinpath(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True)
    path.write_text(source + "\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert [m for _, m in imported_modules(path)] == expected
