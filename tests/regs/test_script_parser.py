"""Register-script parser (irqfwd.regs.script) and `irqfwd regs run` input errors.

Addresses are checked against the GICv2 memory map of QEMU's virt board (IHI 0048B §4.1,
QEMU hw/arm/virt.c ``base_memmap``); bad input must give "FILE:LINE: problem" and exit status 2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from irqfwd.cli.errors import InputError
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.regs.qemu import QemuError, QemuTarget
from irqfwd.regs.script import (
    ReadResult,
    builtin_scripts,
    format_results,
    load_script,
    parse_expectations,
    parse_script,
)

GOOD = """\
# a comment line

r 0x8000004            # GICD_TYPER
r8 0x8000801
r16 0x8000802
w 0x8000000 1
w8 0x8000428 0b1010_0000
w16 0x8000828 0x0101
cpu 1
line ppi27 1
line spi40 0
r 0x803_0004
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from irqfwd.cli.main import main; main()",
                           *args], capture_output=True, text=True, timeout=60, check=False)


def test_parses_every_statement_kind() -> None:
    """cpu / r / r8 / r16 / w / w8 / w16 / line, comments, blank lines, Python literals."""
    s = parse_script(GOOD, "good.regs")
    assert [(o.kind, o.op, o.lineno) for o in s.ops] == [
        ("read", "r", 3), ("read", "r8", 4), ("read", "r16", 5), ("write", "w", 6),
        ("write", "w8", 7), ("write", "w16", 8), ("cpu", "cpu", 9), ("line", "line", 10),
        ("line", "line", 11), ("read", "r", 12)]
    w8 = s.ops[4]
    assert (w8.addr, w8.value, w8.size) == (0x8000428, 0xA0, 1)
    assert s.ops[5].size == 2 and s.ops[1].size == 1 and s.ops[0].size == 4
    # the CPU selected by `cpu 1` applies to what follows, PPI line of that CPU
    assert [o.cpu for o in s.ops] == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert (s.ops[7].addr, s.ops[7].value) == (27, 1)
    assert s.ops[9].addr == 0x8030004          # underscores allowed as Python allows
    assert [o.lineno for o in s.reads] == [3, 4, 5, 12]


@pytest.mark.parametrize(("line", "needle"), [
    ("frobnicate 1", "unknown statement 'frobnicate'"),
    ("r", "'r' takes 1 argument"),
    ("w 0x8000000", "'w' takes 2 argument"),
    ("r 0x", "bad address '0x'"),
    ("r 0xzz", "bad address '0xzz'"),
    ("r -4", "bad address '-4'"),
    ("r 010", "bad address '010'"),
    ("r 0x1__0", "bad address '0x1__0'"),
    ("w 0x8000000 0x", "bad value '0x'"),
    ("r 0x9000000", "address 0x9000000 is not in a GIC frame"),
    ("r 0x8001000", "address 0x8001000 is not in a GIC frame"),   # GICD decodes 4 KiB
    ("r 0x8000002", "not aligned for a 32-bit access"),
    ("r16 0x8000001", "not aligned for a 16-bit access"),
    ("w8 0x8000428 0x100", "value 0x100 does not fit a 8-bit write"),
    ("w 0x8000000 0x100000000", "does not fit a 32-bit write"),
    ("cpu 2", "CPU 2 out of range"),
    ("cpu", "'cpu' takes one argument"),
    ("line ppi15 1", "PPI INTID 15 out of range 16..31"),
    ("line ppi32 1", "PPI INTID 32 out of range"),
    ("line spi31 1", "SPI INTID 31 out of range 32..287"),
    ("line spi288 1", "SPI INTID 288 out of range 32..287"),
    ("line irq40 1", "bad interrupt 'irq40'"),
    ("line ppi27 2", "level must be 0 or 1"),
    ("line ppi27", "'line' takes 2 arguments"),
])
def test_bad_line_names_file_line_and_problem(line: str, needle: str) -> None:
    """Every malformed statement raises InputError 'FILE:LINE: message naming the problem'."""
    with pytest.raises(InputError) as exc:
        parse_script(f"r 0x8000000\n\n{line}\n", "bad.regs")
    msg = str(exc.value)
    assert msg.startswith("bad.regs:3: "), msg
    assert needle in msg, msg


@pytest.mark.parametrize(("line", "needle"), [
    ("r 0x８000004", "bad address '0x８000004'"),                     # full-width 8
    ("w 0x8000000 ١", "bad value '١'"),                             # Arabic-Indic 1
    ("w 0x8000000 ０ｘ１", "bad value '０ｘ１'"),
    ("cpu １", "bad CPU number '１'"),
    ("line ppi27 ١", "bad level '١'"),
    ("line spi４８ 1", "bad interrupt 'spi４８'"),
    ("line spi²  1", "bad interrupt 'spi²'"),                        # isdigit() but not int(): a traceback
    ("gic v3\nmsr ıcc_pmr_el1 0", "unknown system register 'ıcc_pmr_el1'"),  # 'ı'.upper() == 'I'
], ids=["address", "value", "value-hex", "cpu", "level", "intid", "superscript", "sysreg"])
def test_non_ascii_number_names_the_line(line: str, needle: str) -> None:
    """Numbers (and register names) in a script are ASCII: a full-width, Arabic-Indic or
    superscript digit, which int() reads (or, superscript, raised a ValueError traceback),
    is an InputError 'FILE:LINE: ...' naming the token and asking for ASCII digits."""
    text = f"{line}\n" if line.startswith("gic") else f"r 0x8000000\n\n{line}\n"
    with pytest.raises(InputError) as exc:
        parse_script(text, "bad.regs")
    msg = str(exc.value)
    assert msg.startswith("bad.regs:3: " if not line.startswith("gic") else "bad.regs:2: "), msg
    assert needle in msg, msg
    assert "ASCII" in msg or "system register" in msg, msg


def test_cli_non_ascii_digit_exits_2(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`irqfwd regs run` on a script with a full-width digit: exit 2, one line naming the
    file and line (it printed the read of the address the digit spelled)."""
    script = tmp_path / "w.regs"
    script.write_text("r 0x8000000\nr 0x８000004\n", encoding="utf-8")
    err = irqfwd_error("regs", "run", str(script))
    assert f"{script}:2: bad address '0x８000004'" in err and "ASCII" in err


def test_limits_follow_the_configuration() -> None:
    """CPU count and SPI range come from GICv2Config (GICD_TYPER.CPUNumber / ITLinesNumber)."""
    big = GICv2Config(num_cpus=4, num_irqs=1024)
    s = parse_script("cpu 3\nline spi1019 1\n", "x", big)
    assert s.ops[0].cpu == 3 and s.ops[1].addr == 1019
    with pytest.raises(InputError, match=r"SPI INTID 1020 out of range 32\.\.1019"):
        parse_script("line spi1020 1\n", "x", big)
    with pytest.raises(InputError, match=r"CPU 1 out of range: the GIC has 1 CPU"):
        parse_script("cpu 1\n", "x", GICv2Config(num_cpus=1))


def test_read_result_format_is_lowercase_hex_without_leading_zeros() -> None:
    """`OP ADDR = VALUE` exactly as the CLI prints it."""
    rs = [ReadResult(1, "r", 0x8000004, 0x28), ReadResult(2, "r8", 0x8000801, 0),
          ReadResult(3, "r16", 0x803000A, 0xBEEF)]
    assert format_results(rs) == ("r 0x8000004 = 0x28\nr8 0x8000801 = 0x0\n"
                                  "r16 0x803000a = 0xbeef\n")


def test_load_script_missing_file(tmp_path: Path) -> None:
    """A missing script is an InputError naming the path, not a traceback."""
    with pytest.raises(InputError, match="no such register script"):
        load_script(tmp_path / "nope.regs")


def test_expectation_comments() -> None:
    """`# = V` gives both values, `# spec = V qemu = W` gives them apart; writes ignored."""
    text = "r 0x8000000 # = 0x3\nw 0x8000000 1 # = 5\nr 0x8010018 # spec = 0x28 qemu = 0x3ff\n" \
           "r 0x801000c # qemu = 41\n"
    assert parse_expectations(text) == {1: (3, 3), 3: (0x28, 0x3FF), 4: (None, 41)}


def test_builtin_scripts_parse_and_cover_every_block() -> None:
    """At least 40 shipped scripts, all valid, touching GICD, GICC, GICH and GICV."""
    paths = builtin_scripts()
    assert len(paths) >= 40
    frames: set[int] = set()
    for p in paths:
        s = load_script(p)
        assert s.ops, p
        assert p.read_text().startswith("#"), f"{p.name}: header comment missing"
        frames.update(o.addr & ~0xFFFF for o in s.ops if o.kind in ("read", "write"))
    assert frames == {0x8000000, 0x8010000, 0x8030000, 0x8040000}


def test_qemu_target_rejects_what_the_probe_cannot_do() -> None:
    """Only timer PPIs 26/27/30 can be driven on QEMU, and only 1-2 CPUs are supported."""
    q = QemuTarget(2)
    with pytest.raises(InputError, match=r"x.regs:2: the QEMU target cannot drive line INTID 40"):
        q.check(parse_script("r 0x8000000\nline spi40 1\n", "x.regs"))
    with pytest.raises(InputError, match="cannot drive line INTID 25"):
        q.check(parse_script("line ppi25 1\n", "x.regs"))
    q.check(parse_script("line ppi26 1\nline ppi27 0\nline ppi30 1\n", "x.regs"))
    with pytest.raises(InputError, match="CPU 1 out of range: QEMU runs with 1 CPU"):
        QemuTarget(1).check(parse_script("cpu 1\n", "x.regs"))
    with pytest.raises(QemuError, match="1 or 2 CPUs"):
        QemuTarget(4)


def test_cli_run_prints_only_read_lines(tmp_path: Path) -> None:
    """`irqfwd regs run` on the model: exactly one `OP ADDR = VALUE` line per read (TV1)."""
    script = tmp_path / "ok.regs"
    script.write_text("r 0x8000004\nw 0x8000000 0xffffffff\nr 0x8000000\nw8 0x8000429 7\nr8 0x8000429\n")
    res = _cli("regs", "run", str(script))
    assert res.returncode == 0, res.stderr
    assert res.stdout == "r 0x8000004 = 0x28\nr 0x8000000 = 0x3\nr8 0x8000429 = 0x7\n"


@pytest.mark.parametrize("case", ["missing", "bad-line", "bad-target", "bad-quirks", "bad-cpus"])
def test_cli_run_bad_input_exits_2(tmp_path: Path, case: str) -> None:
    """Bad input: a clear message on stderr, nothing on stdout, exit 2, no traceback."""
    good = tmp_path / "good.regs"
    good.write_text("r 0x8000004\n")
    bad = tmp_path / "bad.regs"
    bad.write_text("r 0x8000004\nw8 0x8000428 256\n")
    args, needle = {
        "missing": ([str(tmp_path / "missing.regs")], "no such register script"),
        "bad-line": ([str(bad)], "bad.regs:2: value 0x100 does not fit a 8-bit write"),
        "bad-target": ([str(good), "--target", "kvm"], "--target"),
        "bad-quirks": ([str(good), "--quirks", "linux"], "--quirks"),
        "bad-cpus": ([str(good), "--cpus", "9"], "num_cpus must be 1..8"),
    }[case]
    res = _cli("regs", "run", *args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stdout == ""
    assert needle in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_diff_bad_input_exits_2_before_starting_qemu(tmp_path: Path) -> None:
    """`irqfwd regs diff` validates every script first: a bad line is exit 2, not exit 1."""
    bad = tmp_path / "bad.regs"
    bad.write_text("cpu 0\nr 0x8040001\n")
    res = _cli("regs", "diff", str(bad))
    assert res.returncode == 2
    assert "bad.regs:2: address 0x8040001 is not aligned for a 32-bit access" in res.stderr
    assert res.stdout == ""


def test_isr_statement() -> None:
    """`isr` reads the current CPU's IRQ/FIQ inputs (ISR_EL1.I bit 7, F bit 6) and prints
    as `isr = VALUE`; it takes no argument."""
    s = parse_script("cpu 1\nisr\n", "i.regs")
    assert [(o.kind, o.cpu) for o in s.reads] == [("isr", 1)]
    assert ReadResult(2, "isr", 0, 0x80, 1).format() == "isr = 0x80"
    with pytest.raises(InputError, match=r"i.regs:1: 'isr' takes no argument"):
        parse_script("isr 1\n", "i.regs")
