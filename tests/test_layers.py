"""The import-layer contract (issue 8): ``lint-imports`` keeps every contract of
``pyproject.toml`` on the tree, and breaks the layers contract on an upward import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, capture_output=True, text=True,
                          env={"PYTHONPATH": str(root / "src"), "PATH": "/usr/bin:/bin"}, check=False)


def test_contracts_kept_on_the_tree() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout and "5 kept" in res.stdout


def test_upward_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    """hw importing host (an upward import) is reported, naming both modules."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    timer = tmp_path / "src" / "irqfwd" / "hw" / "timer.py"
    timer.write_text(timer.read_text() + "\nfrom irqfwd.host.genirq import Genirq  # noqa\n")
    res = _lint(tmp_path)
    assert res.returncode != 0
    assert "irqfwd.hw.timer -> irqfwd.host.genirq" in res.stdout
