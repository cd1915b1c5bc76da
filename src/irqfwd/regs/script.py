"""Parser of register scripts (``scripts/regs/*.regs``).

Syntax, one statement per line (``#`` starts a comment, blank lines are ignored)::

    gic v2|v3|v4           # optional first statement; default v2 (QEMU: -M virt,
                           # gic-version=N,virtualization=on)
    cpu N                  # following accesses are made by CPU interface N
    r|r8|r16 ADDR          # 32/8/16-bit read; the result is printed as "OP ADDR = VALUE"
    w|w8|w16 ADDR VALUE    # 32/8/16-bit write
    r64 ADDR / w64 ADDR VALUE  # 64-bit access (GICv3/v4 scripts only)
    mrs REG                # system register read (GICv3/v4), printed "mrs REG = VALUE"
    msr REG VALUE          # system register write (GICv3/v4)
    line ppiNN|spiNN LEVEL # drive an interrupt input (PPIs: of the current CPU), LEVEL 0|1
    isr                    # the current CPU's physical interrupt inputs as ISR_EL1 shows
                           # them: bit 7 = IRQ, bit 6 = FIQ; printed as "isr = VALUE"

Numbers are Python integer literals (``0x28``, ``40``, ``0b101``, ``0xFFFF_FFFF``) written
in ASCII: a full-width or Arabic-Indic digit, which ``int()`` would read, is refused.
Addresses must lie in a GIC frame of the configured memory map and be aligned to the
access size: GICv2 GICD, GICC, GICH, GICV (GICv2 §4.1, §5.3/§5.4); GICv3/v4 GICD
(0x08000000), GITS (0x08080000, control and translation frames), the GICR frames of every
CPU (0x080A0000), and the scratch RAM window :data:`RAM_WINDOW` where scripts place LPI
and ITS tables (plain memory, zero at the start of every script).

``REG`` is the architectural name (IHI 0069H §12): ``ICC_*_EL1`` and ``ICC_SRE_EL2`` are
the physical CPU interface accessed at EL2, ``ICH_*_EL2`` the virtualization interface,
``ICV_*_EL1`` the ``ICC_*_EL1`` encoding accessed from EL1 with ``HCR_EL2.IMO = FMO = 1``
(the guest's virtual CPU interface, :func:`irqfwd.hw.gic.sysregs.route`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from irqfwd.errors import InputError
from irqfwd.hw.gic.sysregs import SysRegUndefined, sysreg_by_name
from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv3.config import GICv3Config

__all__ = ["FRAME_SIZES", "RAM_WINDOW", "Op", "ReadResult", "Script", "builtin_scripts", "format_results",
           "frame_of", "frame_of_v3", "load_script", "parse_expectations", "parse_number", "parse_script", "script_version"]

OpKind = Literal["cpu", "read", "write", "line", "isr", "sysread", "syswrite"]

_SIZES = {"r": 4, "r8": 1, "r16": 2, "w": 4, "w8": 1, "w16": 2, "r64": 8, "w64": 8}

RAM_WINDOW = (0x4040_0000, 0x4080_0000)
"""Scratch RAM of GICv3/v4 scripts ``[start, end)``: inside QEMU virt's RAM (from
0x40000000) clear of the DTB and the probe image; the probe zeroes it at every boot."""

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
    reg: str = ""
    """System register name (``mrs``/``msr``), upper case."""


@dataclass(frozen=True)
class ReadResult:
    """The value one read returned."""

    lineno: int
    op: str
    addr: int
    value: int
    cpu: int = 0
    reg: str = ""

    def format(self) -> str:
        """``OP ADDR = VALUE`` in lowercase hex, e.g. ``r 0x8000004 = 0x28``; ``isr = VALUE``;
        ``mrs REG = VALUE``."""
        if self.op == "isr":
            return f"isr = {self.value:#x}"
        if self.op == "mrs":
            return f"mrs {self.reg} = {self.value:#x}"
        return f"{self.op} {self.addr:#x} = {self.value:#x}"


@dataclass(frozen=True)
class Script:
    """A parsed register script."""

    path: str
    ops: tuple[Op, ...]
    version: int = 2
    """GIC architecture version the script targets (``gic v2|v3|v4``)."""

    @property
    def reads(self) -> list[Op]:
        """The statements that produce a result (reads and ``isr``), in order."""
        return [op for op in self.ops if op.kind in ("read", "isr", "sysread")]


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


def frame_of_v3(addr: int, config: GICv3Config) -> str | None:
    """Name of the GICv3/v4 frame (``GICD``/``GITS``/``GICR``) or ``RAM`` containing ``addr``."""
    if config.gicd_base <= addr < config.gicd_base + 0x10000:
        return "GICD"
    if config.gits_base <= addr < config.gits_base + 0x20000:
        return "GITS"
    if config.gicr_base <= addr < config.gicr_base + config.num_cpus * config.gicr_stride:
        return "GICR"
    if RAM_WINDOW[0] <= addr < RAM_WINDOW[1]:
        return "RAM"
    return None


def parse_number(token: str) -> int:
    """A non-negative Python integer literal in ASCII (``int(token, 0)``); ValueError
    otherwise (``int`` alone reads full-width and other Unicode digits)."""
    if not token or token[0] in "+-" or token.strip() != token or not token.isascii():
        raise ValueError(token)
    return int(token, 0)


def script_version(text: str) -> int:
    """The version named by a leading ``gic vN`` statement (2 without one); no validation."""
    for raw in text.splitlines():
        stmt = raw.split("#", 1)[0].split()
        if not stmt:
            continue
        if stmt[0] == "gic" and len(stmt) == 2 and stmt[1] in ("v2", "v3", "v4"):
            return int(stmt[1][1])
        return 2
    return 2


def parse_script(text: str, path: str = "<script>",
                 config: GICv2Config | GICv3Config | None = None) -> Script:
    """Parse ``text``; raise :class:`InputError` ``PATH:LINE: problem`` on the first bad line.

    ``config`` gives the CPU count (and, for a GICv2, the memory map); a GICv3/v4 script
    is checked against the ``qemu_virt`` memory map of its version with that many CPUs.
    """
    ncpu = config.num_cpus if config is not None else 2
    version = script_version(text)
    cfg: GICv2Config | None = config if isinstance(config, GICv2Config) else None
    v3 = config if isinstance(config, GICv3Config) and config.version == version else None
    try:  # the configuration of the script's own version: each bounds the CPUs its own way
        if version >= 3 and v3 is None:
            v3 = GICv3Config(num_cpus=ncpu, version=version)
        if version < 3 and cfg is None:
            cfg = GICv2Config(num_cpus=ncpu)
    except ValueError as exc:
        raise InputError(f"{path}: --cpus {ncpu} for a GICv{version} script: {exc}") from None
    ops: list[Op] = []
    cpu = 0
    seen_stmt = False
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
                ascii_only = "" if tok.isascii() else ", in ASCII digits"
                raise InputError(f"{where}: bad {what} {tok!r} (expected a non-negative "
                                 f"integer literal such as 0x28 or 40{ascii_only})") from None

        words = stmt.split()
        mnem = words[0]
        args = words[1:]
        first = not seen_stmt
        seen_stmt = True
        if mnem == "gic":
            if len(args) != 1 or args[0] not in ("v2", "v3", "v4"):
                raise bad("'gic' takes one argument: v2, v3 or v4")
            if not first:
                raise bad("'gic' must be the first statement of the script")
        elif mnem == "cpu":
            if len(args) != 1:
                raise bad(f"'cpu' takes one argument (the CPU number), got {len(args)}")
            n = num(args[0], "CPU number")
            if n >= ncpu:
                raise bad(f"CPU {n} out of range: the GIC has {ncpu} CPU interface(s) "
                          f"(0..{ncpu - 1})")
            cpu = n
            ops.append(Op("cpu", lineno, mnem, cpu))
        elif mnem in ("mrs", "msr"):
            if v3 is None:
                raise bad(f"'{mnem}' needs a GICv3/v4 script (start it with 'gic v3' or 'gic v4')")
            want = 2 if mnem == "msr" else 1
            if len(args) != want:
                usage = "msr REG VALUE" if mnem == "msr" else "mrs REG"
                raise bad(f"'{mnem}' takes {want} argument(s) ({usage}), got {len(args)}")
            name = args[0].upper()
            try:
                if not args[0].isascii():  # str.upper() maps e.g. a dotless i to I
                    raise KeyError(name)
                reg, _ = sysreg_by_name(name)
            except KeyError:
                raise bad(f"unknown system register {args[0]!r} (expected an ICC_*_EL1, "
                          "ICC_SRE_EL2, ICH_*_EL2 or ICV_*_EL1 name)") from None
            access = reg.write if mnem == "msr" else reg.read
            if access is None:
                raise bad(f"{name} is {'read' if mnem == 'msr' else 'write'}-only")
            try:
                v3.check_sysreg(name)
            except SysRegUndefined as exc:
                raise bad(str(exc)) from None
            value = 0
            if mnem == "msr":
                value = num(args[1], "value")
                if value >= 1 << 64:
                    raise bad(f"value {value:#x} does not fit a 64-bit register")
            ops.append(Op("syswrite" if mnem == "msr" else "sysread", lineno, mnem, cpu,
                          0, value, 8, name))
        elif mnem in _SIZES:
            is_write = mnem.startswith("w")
            want = 2 if is_write else 1
            if len(args) != want:
                usage = f"{mnem} ADDR VALUE" if is_write else f"{mnem} ADDR"
                raise bad(f"'{mnem}' takes {want} argument(s) ({usage}), got {len(args)}")
            size = _SIZES[mnem]
            addr = num(args[0], "address")
            if size == 8 and v3 is None:
                raise bad(f"'{mnem}' needs a GICv3/v4 script (start it with 'gic v3' or 'gic v4')")
            if v3 is not None:
                frame = frame_of_v3(addr, v3)
                if frame is None:
                    raise bad(f"address {addr:#x} is not in a GIC frame or the scratch RAM "
                              f"(GICD {v3.gicd_base:#x}, GITS {v3.gits_base:#x}, GICR "
                              f"{v3.gicr_base:#x}..{v3.gicr_base + ncpu * v3.gicr_stride - 1:#x}, "
                              f"RAM {RAM_WINDOW[0]:#x}..{RAM_WINDOW[1] - 1:#x})")
            else:
                assert cfg is not None
                frame = frame_of(addr, cfg)
            if frame is None:
                assert cfg is not None
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
            if kind not in ("ppi", "spi") or not (digits.isascii() and digits.isdigit()):
                raise bad(f"bad interrupt {name!r} (expected ppiNN with NN 16..31 or spiNN "
                          "with NN 32..1019, NN the INTID in ASCII digits)")
            intid = int(digits)
            if kind == "ppi" and not 16 <= intid <= 31:
                raise bad(f"PPI INTID {intid} out of range 16..31")
            last_spi = min(v3.num_irqs if v3 is not None else cfg.num_irqs if cfg is not None else 1020, 1020) - 1
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
            raise bad(f"unknown statement {mnem!r} (expected gic, cpu, r, r8, r16, r64, w, "
                      "w8, w16, w64, mrs, msr, line or isr)")
    return Script(path, tuple(ops), version)


def load_script(path: str | Path, config: GICv2Config | GICv3Config | None = None) -> Script:
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
        if not line.lstrip().startswith(("r", "isr", "mrs")):
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


def builtin_scripts(gicv3: bool = False) -> list[Path]:
    """The register scripts shipped with irqfwd (``scripts/regs`` or ``irqfwd/data/regs``):
    the GICv2 ones, or with ``gicv3=True`` the GICv3/v4 ones (``gicv3/`` beneath)."""
    here = Path(__file__).resolve()
    for d in (here.parents[1] / "data" / "regs", here.parents[3] / "scripts" / "regs"):
        if d.is_dir():
            return sorted((d / "gicv3" if gicv3 else d).glob("*.regs"))
    return []
