"""Differential tests of the GICv3/v4 model against QEMU 7.2 (``gic-version=3`` and ``4``):
every script of ``scripts/regs/gicv3`` must read the same on QEMU and on the model with
every QEMU quirk (docs/conformance.md, "GICv3/v4"), and QEMU must still give the values
recorded in the scripts (catches a QEMU upgrade)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from irqfwd.regs.diff import compare
from irqfwd.regs.model import config_for, run_on_model
from irqfwd.regs.qemu import QemuError, QemuTarget
from irqfwd.regs.script import builtin_scripts, load_script, parse_expectations, parse_script

pytestmark = pytest.mark.qemu

SCRIPTS = builtin_scripts(gicv3=True)
V3 = [p for p in SCRIPTS if load_script(p).version == 3]
V4 = [p for p in SCRIPTS if load_script(p).version == 4]


def _diff(q: QemuTarget, path: Path) -> None:
    script = load_script(path)
    config = config_for(script.version, 2, qemu=True)
    qemu = q.run(script)
    bad = compare(script, run_on_model(script, config), qemu)
    assert not bad, "\n".join(d.format() for d in bad)
    expected = parse_expectations(path.read_text())
    drift = [f"{path.name}:{r.lineno}: {r.format()}, recorded {expected[r.lineno][1]:#x}"
             for r in qemu if expected.get(r.lineno, (None, None))[1] not in (None, r.value)]
    assert not drift, "\n".join(drift)


@pytest.mark.parametrize("path", V3, ids=[p.stem for p in V3])
def test_gicv3_script_agrees_with_qemu(qemu_v3: QemuTarget, path: Path) -> None:
    """GICv3Config.qemu_virt() reads exactly what QEMU's GICv3 reads, line by line."""
    _diff(qemu_v3, path)


@pytest.mark.parametrize("path", V4, ids=[p.stem for p in V4])
def test_gicv4_script_agrees_with_qemu(qemu_v4: QemuTarget, path: Path) -> None:
    """GICv3Config.qemu_virt(version=4) reads exactly what QEMU's GICv4 reads."""
    _diff(qemu_v4, path)


def test_probe_reports_undefined_sysreg(qemu_v3: QemuTarget) -> None:
    """An ICV_* access trapped to EL2 (ICH_HCR_EL2.TALL1) is a clear probe fault, and the
    session stays usable."""
    bad = parse_script("gic v3\nmsr ICH_HCR_EL2 0x1001\nmrs ICV_IAR1_EL1\n", "trap.regs")
    with pytest.raises(QemuError, match=r"trap.regs:3: the probe rejected 'mrs': fault esr="):
        qemu_v3.run(bad)
    ok = parse_script("gic v3\nmrs ICH_VTR_EL2\n", "ok")
    assert [r.value for r in qemu_v3.run(ok)] == [0x90B8_0003]


def test_version_mismatch_is_input_error(qemu_v3: QemuTarget) -> None:
    """A GICv2 script on QEMU's GICv3 is refused before anything runs."""
    with pytest.raises(Exception, match="a GICv2 script cannot run on QEMU's GICv3"):
        qemu_v3.run(parse_script("r 0x8000004\n", "v2.regs"))


def test_cli_diff_mixed_versions(qemu_tools: None) -> None:
    """`irqfwd regs diff` with GICv2 and GICv3 scripts starts one QEMU per version."""
    v2 = next(p for p in builtin_scripts() if p.stem == "tv04-eoimode1")
    v3 = next(p for p in SCRIPTS if p.stem == "v3-its-mapti-msi")
    res = subprocess.run([sys.executable, "-c", "from irqfwd.cli.main import main; main()",
                          "regs", "diff", str(v2), str(v3)], capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 script(s)" in res.stderr and "0 disagreement(s)" in res.stderr
