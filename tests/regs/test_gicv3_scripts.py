"""GICv3/v4 register scripts (``scripts/regs/gicv3``) on the model, and the GICv3 syntax
(``gic v2|v3|v4``, ``r64``/``w64``, ``mrs``/``msr``) of the parser and the CLI.

Each shipped script carries the values QEMU 7.2 gave (``# = V`` or ``qemu = V``) and,
where the architecture says otherwise, the architectural value (``spec = V``): the
architectural model must give the spec values, the model with every QEMU quirk the QEMU
values (the QEMU runs themselves are in tests/qemu/test_diff_gicv3.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from irqfwd.errors import InputError
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.regs.model import config_for, run_on_model
from irqfwd.regs.script import builtin_scripts, load_script, parse_expectations, parse_script

SCRIPTS = builtin_scripts(gicv3=True)


def _check(path: Path, qemu: bool, column: int) -> None:
    text = path.read_text()
    script = load_script(path)
    config = config_for(script.version, 2, qemu)
    expected = parse_expectations(text)
    wrong = []
    for r in run_on_model(script, config):
        want = expected.get(r.lineno, (None, None))[column]
        if want is not None and r.value != want:
            wrong.append(f"{path.name}:{r.lineno}: {r.format()}, expected {want:#x}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_architectural_model_matches_spec_values(path: Path) -> None:
    """GICv3Config() (no quirks) gives every architectural value the script names."""
    _check(path, False, 0)


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_qemu_quirks_model_matches_qemu_values(path: Path) -> None:
    """GICv3Config.qemu_virt() gives every QEMU 7.2 value the script names."""
    _check(path, True, 1)


def test_scripts_are_many_and_annotated() -> None:
    """At least 40 hand-written GICv3/v4 scripts, every read annotated, v3 and v4 both,
    every block exercised (GICD, GICR, ITS, RAM, ICC, ICH, ICV)."""
    assert len(SCRIPTS) >= 40
    versions = set()
    text = ""
    for p in SCRIPTS:
        s = load_script(p)
        versions.add(s.version)
        ann = parse_expectations(p.read_text())
        assert all(op.lineno in ann for op in s.reads), p.name
        text += p.read_text()
    assert versions == {3, 4}
    for needle in ("r 0x800", "0x80a", "0x808", "0x4040", "mrs ICC_", "mrs ICH_", "mrs ICV_",
                   "w 0x8090040", "r64 ", "w64 "):
        assert needle in text, needle


def test_gic_statement_selects_version() -> None:
    """`gic v3`/`gic v4` as first statement; default v2; GICv2 scripts unchanged."""
    assert parse_script("r 0x8000004\n").version == 2
    assert parse_script("# c\n\ngic v4\nr 0x8000004\n").version == 4
    s = parse_script("gic v3\nmrs icc_iar1_el1\nmsr ICV_EOIR1_EL1 0x20\nr64 0x80a0008\n")
    assert [(o.kind, o.reg) for o in s.ops] == [("sysread", "ICC_IAR1_EL1"),
                                                ("syswrite", "ICV_EOIR1_EL1"), ("read", "")]
    assert s.ops[2].size == 8


@pytest.mark.parametrize(("text", "needle"), [
    ("mrs ICC_IAR1_EL1\n", "x.regs:1: 'mrs' needs a GICv3/v4 script"),
    ("r64 0x8000000\n", "x.regs:1: 'r64' needs a GICv3/v4 script"),
    ("gic v3\nmrs ICC_FOO_EL1\n", "x.regs:2: unknown system register 'ICC_FOO_EL1'"),
    ("gic v3\nmrs ICV_SGI1R_EL1\n", "unknown system register"),
    ("gic v3\nmrs ICC_EOIR1_EL1\n", "x.regs:2: ICC_EOIR1_EL1 is write-only"),
    ("gic v3\nmsr ICH_VTR_EL2 1\n", "x.regs:2: ICH_VTR_EL2 is read-only"),
    ("gic v3\nmrs ICH_LR4_EL2\n", "x.regs:2: ICH_LR4_EL2: only 4 list registers"),
    ("gic v3\nmrs ICC_AP1R1_EL1\n", "not implemented with 5 preemption bits"),
    ("gic v3\nr64 0x8006104\n", "x.regs:2: address 0x8006104 is not aligned for a 64-bit"),
    ("gic v3\nr 0x8010000\n", "x.regs:2: address 0x8010000 is not in a GIC frame or the "
                              "scratch RAM"),
    ("gic v3\nw64 0x40000000 1\n", "scratch RAM"),
    ("gic v3\nr 0x80e0000\n", "not in a GIC frame"),
    ("gic v3\nmsr ICC_PMR_EL1 0x10000000000000000\n", "does not fit a 64-bit register"),
    ("r 0x8000004\ngic v3\n", "x.regs:2: 'gic' must be the first statement"),
    ("gic v5\n", "x.regs:1: 'gic' takes one argument: v2, v3 or v4"),
    ("gic v3\nmsr ICC_PMR_EL1\n", "'msr' takes 2 argument(s)"),
])
def test_bad_gicv3_lines(text: str, needle: str) -> None:
    """Bad GICv3 statements are an InputError naming line and problem."""
    with pytest.raises(InputError) as exc:
        parse_script(text, "x.regs")
    assert needle in str(exc.value)


def test_gicv4_memory_map_and_cpu_count() -> None:
    """A GICv4 has four frames per redistributor: CPU1 at 0x080E0000."""
    parse_script("gic v4\nr 0x80e0000\nr64 0x8100078\n")
    with pytest.raises(InputError, match="CPU 2 out of range"):
        parse_script("gic v3\ncpu 2\n")
    parse_script("gic v3\ncpu 3\nr 0x8100000\n", config=GICv2Config(num_cpus=4))


def test_model_mrs_msr_and_r64() -> None:
    """The model target runs sysreg and 64-bit statements."""
    s = parse_script("gic v3\nmsr ICC_PMR_EL1 0xff\nmrs ICC_PMR_EL1\nr64 0x80c0008\n"
                     "w64 0x40400000 0x1122334455667788\nr 0x40400004\n")
    assert [r.format() for r in run_on_model(s)] == [
        "mrs ICC_PMR_EL1 = 0xf8", "r64 0x80c0008 = 0x101000111", "r 0x40400004 = 0x11223344"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from irqfwd.cli.main import main; main()",
                           *args], capture_output=True, text=True, timeout=120, check=False)


def test_cli_runs_gicv3_scripts_and_reports_bad_ones(tmp_path: Path) -> None:
    """`irqfwd regs run` picks the model by the script's `gic` statement; bad GICv3
    input exits 2 with the line, no traceback."""
    ok = tmp_path / "ok.regs"
    ok.write_text("gic v3\nmrs ICH_VTR_EL2\nr 0x8000000\n")
    v2 = tmp_path / "v2.regs"
    v2.write_text("r 0x8000004\n")
    res = _cli("regs", "run", str(ok), str(v2), "--quirks", "qemu")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "mrs ICH_VTR_EL2 = 0x90b80003\nr 0x8000000 = 0x50\nr 0x8000004 = 0x28\n"
    bad = tmp_path / "bad.regs"
    bad.write_text("mrs ICC_IAR1_EL1\n")
    res = _cli("regs", "run", str(bad))
    assert res.returncode == 2 and res.stdout == ""
    assert "bad.regs:1: 'mrs' needs a GICv3/v4 script" in res.stderr
    assert "Traceback" not in res.stderr
