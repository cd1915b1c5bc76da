"""The import-layer contract (issue 8): ``lint-imports`` keeps every contract of
``pyproject.toml`` on the tree, and breaks the layers contract on an upward import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"}, check=False)


def test_contracts_kept_on_the_tree() -> None:
    """Every contract of pyproject.toml is checked and kept."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout and f"{len(contracts)} kept" in res.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        on.add(m)
        for n in sorted(graph.find_modules_directly_imported_by(m)):
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            comp = []
            while True:
                n = stack.pop()
                on.discard(n)
                comp.append(n)
                if n == m:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    return out


def test_no_circle_in_the_import_graph() -> None:
    """No two modules import each other, directly or through others, TYPE_CHECKING imports
    included (issue 8: "no circle in the import graph")."""
    graph = grimp.build_graph("irqfwd", exclude_type_checking_imports=False, cache_dir=None)
    assert _cycles(graph) == []


def test_gicv3_block_importing_the_device_breaks_its_contract(tmp_path: Path) -> None:
    """A GICv3 block naming the device that composes it (the circle removed by GicV3Core)
    is reported by the gicv3 contract."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    its = tmp_path / "src" / "irqfwd" / "hw" / "gicv3" / "its.py"
    its.write_text(its.read_text() + "\nfrom irqfwd.hw.gicv3.gic import GICv3  # noqa\n")
    res = _lint(tmp_path)
    assert res.returncode != 0
    assert "irqfwd.hw.gicv3.its -> irqfwd.hw.gicv3.gic" in res.stdout


def test_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    """hw importing host (an upward import) is reported, naming both modules."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    timer = tmp_path / "src" / "irqfwd" / "hw" / "timer.py"
    timer.write_text(timer.read_text() + "\nfrom irqfwd.host.genirq import Genirq  # noqa\n")
    res = _lint(tmp_path)
    assert res.returncode != 0
    assert "irqfwd.hw.timer -> irqfwd.host.genirq" in res.stdout
