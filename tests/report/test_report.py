"""``irqfwd compare --report DIR``: the report directory, and report.html in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from irqfwd.system.run import DEFAULT_COMPARE_DESIGNS

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from irqfwd.report import write_report
    from irqfwd.system.run import DEFAULT_COMPARE_DESIGNS, prepare

    out = tmp_path_factory.mktemp("rep") / "nic-level"
    config, seed, costs = prepare("nic-level", ["duration=3ms"], None)
    write_report(out, config, seed, costs, list(DEFAULT_COMPARE_DESIGNS))
    return out


def test_report_files_and_stats(report_dir: Path) -> None:
    """Every file is there; stats.txt is framed as gem5's; the exit table sums to the exits."""
    names = {p.name for p in report_dir.iterdir()}
    assert {"config.json", "stats.json", "stats.txt", "exits.txt", "latency-cdf.png", "per-interrupt.png",
            "timeline.png", "report.html", "trace-forwarded.json"} <= names
    assert not any(n.startswith(".") for n in names)
    stats = json.loads((report_dir / "stats.json").read_text())
    txt = (report_dir / "stats.txt").read_text()
    assert "---------- Begin Simulation Statistics ----------" in txt
    fwd = stats["designs"]["forwarded"]["counters"]
    assert re.search(rf"^forwarded\.guest_irqs_handled\s+{fwd['guest_irqs_handled']}\s+#", txt, re.M)
    cfg = json.loads((report_dir / "config.json").read_text())
    assert cfg["scenario"]["name"] == "nic-level" and cfg["cost_profile"]
    for png in ("latency-cdf.png", "per-interrupt.png", "timeline.png"):
        assert (report_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        reason = "report.html browser test needs Debian's chromium (scripts/ensure-system-deps.sh)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " — mandatory under CI=true", pytrace=False)
        pytest.skip(reason)
    return path


def test_report_html_renders_in_headless_chromium(report_dir: Path, tmp_path: Path) -> None:
    """Chromium loads report.html from disk: the script ran (data-ready), the three plots
    are inline PNGs, each design has a timeline SVG with slices, no console message or
    uncaught error was logged; a screenshot is saved (docs/report-screenshot.png)."""
    chromium = _chromium()
    url = (report_dir / "report.html").as_uri()
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'ud'}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'data-ready="1"' in dom
    assert dom.count('src="data:image/png;base64,') == 3
    assert dom.count("<svg") == len(DEFAULT_COMPARE_DESIGNS) and dom.count("<rect") > 100
    console = [ln for ln in proc.stderr.splitlines() if ":CONSOLE" in ln]
    assert not console, console
    shot = tmp_path / "shot.png"
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'ud2'}",
                           "--window-size=1280,2400", f"--screenshot={shot}", url],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG"
    if os.environ.get("IRQFWD_UPDATE_DOCS") == "1":
        shutil.copy(shot, ROOT / "docs" / "report-screenshot.png")
        for png in ("latency-cdf.png", "per-interrupt.png", "timeline.png"):
            shutil.copy(report_dir / png, ROOT / "docs" / f"report-{png}")


def test_report_is_deterministic(report_dir: Path, tmp_path: Path) -> None:
    """A second report of the same scenario and seed has identical stats, tables and page."""
    from irqfwd.report import write_report
    from irqfwd.system.run import DEFAULT_COMPARE_DESIGNS, prepare

    config, seed, costs = prepare("nic-level", ["duration=3ms"], None)
    again = tmp_path / "again"
    write_report(again, config, seed, costs, list(DEFAULT_COMPARE_DESIGNS))
    for name in ("stats.txt", "stats.json", "exits.txt", "config.json", "report.html", "timeline.png"):
        assert (again / name).read_bytes() == (report_dir / name).read_bytes(), name
