"""Parser of register scripts (``scripts/regs/*.regs``).

Syntax, one statement per line (``#`` starts a comment, blank lines are ignored)::

    cpu N                  # following accesses are made by CPU interface N
    r|r8|r16 ADDR          # 32/8/16-bit read; the result is printed as "OP ADDR = VALUE"
    w|w8|w16 ADDR VALUE    # 32/8/16-bit write
    line ppiNN|spiNN LEVEL # drive an interrupt input (PPIs: of the current CPU), LEVEL 0|1
    isr                    # the current CPU's physical interrupt inputs as ISR_EL1 shows
                           # them: bit 7 = IRQ, bit 6 = FIQ; printed as "isr = VALUE"

Numbers are Python integer literals (``0x28``, ``40``, ``0b101``, ``0xFFFF_FFFF``).
Addresses must lie in a GIC frame of the configured memory map (GICD, GICC, GICH, GICV;
GICv2 §4.1, virtualization extensions §5.3/§5.4) and be aligned to the access size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from irqfwd.errors import InputError
from irqfwd.hw.gicv2.config import GICv2Config

__all__ = ["FRAME_SIZES", "Op", "ReadResult", "Script", "builtin_scripts", "format_results",
           "frame_of", "load_script", "parse_expectations", "parse_number", "parse_script"]

OpKind = Literal["cpu", "read", "write", "line", "isr"]

_SIZES = {"r": 4, "r8": 1, "r16": 2, "w": 4, "w8": 1, "w16": 2}

FRAME_SIZES = {"GICD": 0x1000, "GICC": 0x2000, "GICH": 0x1000, "GICV": 0x2000}
"""Bytes of each frame holding registers (QEMU virt maps 64 KiB but decodes only these)."""


@dataclass(frozen=True)
class Op:
    """One statement of a script."""

    kind: OpKind
    lineno: int
    """1-based line number in the script file."""
    op: str
    """The mnemonic as written: ``cpu``, ``r``, ``r8``, ``r16``, ``w``, ``w8``, ``w16``,
    ``line``, ``isr``."""
    cpu: int
    """CPU making the access (for ``cpu``: the CPU selected)."""
    addr: int = 0
    """Address (read/write) or INTID (line)."""
    value: int = 0
    """Written value (write) or level 0/1 (line)."""
    size: int = 4
    """Access size in bytes."""


@dataclass(frozen=True)
class ReadResult:
    """The value one read returned."""

    lineno: int
    op: str
    addr: int
    value: int
    cpu: int = 0

    def format(self) -> str:
        """``OP ADDR = VALUE`` in lowercase hex, e.g. ``r 0x8000004 = 0x28``; ``isr = VALUE``."""
        if self.op == "isr":
            return f"isr = {self.value:#x}"
        return f"{self.op} {self.addr:#x} = {self.value:#x}"


@dataclass(frozen=True)
class Script:
    """A parsed register script."""

    path: str
    ops: tuple[Op, ...]

    @property
    def reads(self) -> list[Op]:
        """The statements that produce a result (reads and ``isr``), in order."""
        return [op for op in self.ops if op.kind in ("read", "isr")]


def format_results(results: list[ReadResult]) -> str:
    """All results, one line each, newline-terminated (empty string for none)."""
    return "".join(r.format() + "\n" for r in results)


def frame_of(addr: int, config: GICv2Config) -> str | None:
    """Name of the GIC frame containing ``addr`` (``GICD``/``GICC``/``GICH``/``GICV``), or None."""
    bases = {"GICD": config.gicd_base, "GICC": config.gicc_base,
             "GICH": config.gich_base, "GICV": config.gicv_base}
    for name, base in bases.items():
        if base <= addr < base + FRAME_SIZES[name]:
            return name
    return None


def parse_number(token: str) -> int:
    """A non-negative Python integer literal (``int(token, 0)``); ValueError otherwise."""
    if not token or token[0] in "+-" or token.strip() != token:
        raise ValueError(token)
    return int(token, 0)


def parse_script(text: str, path: str = "<script>", config: GICv2Config | None = None) -> Script:
    """Parse ``text``; raise :class:`InputError` ``PATH:LINE: problem`` on the first bad line."""
    cfg = config if config is not None else GICv2Config()
    ops: list[Op] = []
    cpu = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        stmt = raw.split("#", 1)[0].strip()
        if not stmt:
            continue
        where = f"{path}:{lineno}"

        def bad(msg: str, where: str = where) -> InputError:
            return InputError(f"{where}: {msg}")

        def num(tok: str, what: str, where: str = where) -> int:
            try:
                return parse_number(tok)
            except ValueError:
                raise InputError(f"{where}: bad {what} {tok!r} (expected a non-negative "
                                 "integer literal such as 0x28 or 40)") from None

        words = stmt.split()
        mnem = words[0]
        args = words[1:]
        if mnem == "cpu":
            if len(args) != 1:
                raise bad(f"'cpu' takes one argument (the CPU number), got {len(args)}")
            n = num(args[0], "CPU number")
            if n >= cfg.num_cpus:
                raise bad(f"CPU {n} out of range: the GIC has {cfg.num_cpus} CPU interface(s) "
                          f"(0..{cfg.num_cpus - 1})")
            cpu = n
            ops.append(Op("cpu", lineno, mnem, cpu))
        elif mnem in ("r", "r8", "r16", "w", "w8", "w16"):
            is_write = mnem.startswith("w")
            want = 2 if is_write else 1
            if len(args) != want:
                usage = f"{mnem} ADDR VALUE" if is_write else f"{mnem} ADDR"
                raise bad(f"'{mnem}' takes {want} argument(s) ({usage}), got {len(args)}")
            size = _SIZES[mnem]
            addr = num(args[0], "address")
            frame = frame_of(addr, cfg)
            if frame is None:
                raise bad(f"address {addr:#x} is not in a GIC frame (GICD {cfg.gicd_base:#x}, "
                          f"GICC {cfg.gicc_base:#x}, GICH {cfg.gich_base:#x}, "
                          f"GICV {cfg.gicv_base:#x})")
            if addr % size:
                raise bad(f"address {addr:#x} is not aligned for a {8 * size}-bit access")
            value = 0
            if is_write:
                value = num(args[1], "value")
                if value >= 1 << (8 * size):
                    raise bad(f"value {value:#x} does not fit a {8 * size}-bit write")
            ops.append(Op("write" if is_write else "read", lineno, mnem, cpu, addr, value, size))
        elif mnem == "line":
            if len(args) != 2:
                raise bad(f"'line' takes 2 arguments (line ppiNN|spiNN LEVEL), got {len(args)}")
            name, level_tok = args
            kind, digits = name[:3].lower(), name[3:]
            if kind not in ("ppi", "spi") or not digits.isdigit():
                raise bad(f"bad interrupt {name!r} (expected ppiNN with NN 16..31 or spiNN "
                          "with NN 32..1019, NN the INTID)")
            intid = int(digits)
            if kind == "ppi" and not 16 <= intid <= 31:
                raise bad(f"PPI INTID {intid} out of range 16..31")
            last_spi = min(cfg.num_irqs, 1020) - 1
            if kind == "spi" and not 32 <= intid <= last_spi:
                raise bad(f"SPI INTID {intid} out of range 32..{last_spi}")
            level = num(level_tok, "level")
            if level not in (0, 1):
                raise bad(f"level must be 0 or 1, got {level}")
            ops.append(Op("line", lineno, mnem, cpu, intid, level, 0))
        elif mnem == "isr":
            if args:
                raise bad(f"'isr' takes no argument, got {len(args)}")
            ops.append(Op("isr", lineno, mnem, cpu))
        else:
            raise bad(f"unknown statement {mnem!r} (expected cpu, r, r8, r16, w, w8, w16, "
                      "line or isr)")
    return Script(path, tuple(ops))


def load_script(path: str | Path, config: GICv2Config | None = None) -> Script:
    """Read and parse the script file ``path``; :class:`InputError` if unreadable or bad."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such register script") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a register script") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read register script: {exc}") from None
    return parse_script(text, str(path), config)


_EXPECT_BOTH = re.compile(r"#\s*=\s*(0x[0-9a-fA-F]+|\d+)\b")
_EXPECT_SPEC = re.compile(r"#.*\bspec\s*=\s*(0x[0-9a-fA-F]+|\d+)\b")
_EXPECT_QEMU = re.compile(r"#.*\bqemu\s*=\s*(0x[0-9a-fA-F]+|\d+)\b")


def parse_expectations(text: str) -> dict[int, tuple[int | None, int | None]]:
    """Expected values written as comments after reads: line → (architecture, QEMU 7.2).

    ``r ADDR  # = V`` means both give V; ``r ADDR  # spec = V qemu = W`` gives them apart
    (either may be omitted when unknown or UNPREDICTABLE).  Comments on other statements
    are ignored.
    """
    out: dict[int, tuple[int | None, int | None]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.lstrip().startswith(("r", "isr")):
            continue
        both = _EXPECT_BOTH.search(line)
        if both:
            v = int(both.group(1), 0)
            out[lineno] = (v, v)
            continue
        spec, qemu = _EXPECT_SPEC.search(line), _EXPECT_QEMU.search(line)
        if spec or qemu:
            out[lineno] = (int(spec.group(1), 0) if spec else None,
                           int(qemu.group(1), 0) if qemu else None)
    return out


def builtin_scripts() -> list[Path]:
    """The register scripts shipped with irqfwd (``scripts/regs`` or ``irqfwd/data/regs``)."""
    here = Path(__file__).resolve()
    for d in (here.parents[1] / "data" / "regs", here.parents[3] / "scripts" / "regs"):
        if d.is_dir():
            return sorted(d.glob("*.regs"))
    return []
