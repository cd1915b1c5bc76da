"""System-register table of the GICv3/v4 CPU interface (Arm IHI 0069H §12.1.5, §12.2–12.4).

Every register is declared once as a :class:`SysReg` (architectural name, encoding
``op0, op1, CRn, CRm, op2``, handler names, reset value) in :data:`GICV3_SYSREGS`, like the
MMIO tables of :mod:`irqfwd.hw.gic.regs`.  A :class:`SysRegBlock` resolves the handlers of
one table on an owner (a CPU interface or a virtual interface) once, at construction.

Handler contract: ``read() -> int`` and ``write(value) -> None`` on the owner, with the
exact semantics of the register access named (a read of ``ICC_IAR1_EL1`` acknowledges).

Routing of an access by encoding (IHI 0069H §12.1.5, "GIC System register access", and
the ``ICV_*`` descriptions in §12.3): :func:`route` decides which view an ``MRS``/``MSR``
of an ``ICC_*_EL1`` encoding reaches.  At EL2 (and at EL1 with ``HCR_EL2.IMO = FMO = 0``)
it is the physical CPU interface (``ICC_*``).  At EL1 with ``HCR_EL2.IMO = 1`` the Group 1
registers (``IAR1``, ``EOIR1``, ``HPPIR1``, ``BPR1``, ``AP1R<n>``, ``IGRPEN1``) reach the
virtual CPU interface (``ICV_*``); with ``FMO = 1`` the Group 0 ones (``IAR0``, ``EOIR0``,
``HPPIR0``, ``BPR0``, ``AP0R<n>``, ``IGRPEN0``); the common ones (``CTLR``, ``DIR``,
``PMR``, ``RPR``) when either bit is 1.  ``ICH_*_EL2`` and ``ICC_SRE_EL2`` exist at EL2
only; the SGI generation registers are not virtualized (they trap to EL2 when
``IMO``/``FMO`` is 1, §12.2.21).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

__all__ = [
    "GICV3_SYSREGS",
    "ICV_NAMES",
    "SysReg",
    "SysRegBlock",
    "SysRegUndefined",
    "encoding",
    "route",
    "sysreg_by_name",
]


class SysRegUndefined(Exception):
    """An access the CPU treats as UNDEFINED (no such register, wrong exception level, or
    a register the configuration does not implement); a real CPU takes an exception."""


def encoding(op0: int, op1: int, crn: int, crm: int, op2: int) -> int:
    """The 16-bit system-register encoding ``op0:op1:CRn:CRm:op2`` (MRS/MSR bits [20:5])."""
    return (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2


@dataclass(frozen=True, slots=True)
class SysReg:
    """One system register of the GIC CPU interface."""

    name: str
    """Architectural name, e.g. ``ICC_IAR1_EL1``."""
    op0: int
    op1: int
    crn: int
    crm: int
    op2: int
    read: str | None
    """Handler name on the owner (``None``: write-only, a read is UNDEFINED)."""
    write: str | None
    """Handler name on the owner (``None``: read-only, a write is UNDEFINED)."""
    virt: str = ""
    """Which of ``HCR_EL2.IMO``/``FMO`` redirects an EL1 access to ``ICV_*``: ``"1"``
    (IMO), ``"0"`` (FMO), ``"01"`` (either), ``""`` (never: not virtualized)."""
    doc: str = ""
    index: int = -1
    """For a register of an array (``ICC_AP1R<n>``, ``ICH_LR<n>``): ``n``, passed to the
    handlers as their first argument (``read(n)``, ``write(n, value)``)."""

    @property
    def enc(self) -> int:
        """The 16-bit encoding."""
        return encoding(self.op0, self.op1, self.crn, self.crm, self.op2)

    @property
    def el2_only(self) -> bool:
        """``ICH_*_EL2`` and ``ICC_SRE_EL2``: accessible at EL2 (or EL3) only."""
        return self.name.endswith("_EL2")


def _icc(name: str, crm: int, op2: int, read: str | None, write: str | None, virt: str,
         doc: str, crn: int = 12, index: int = -1) -> SysReg:
    return SysReg(name, 3, 0, crn, crm, op2, read, write, virt, doc, index)


def _ich(name: str, crm: int, op2: int, read: str | None, write: str | None, doc: str,
         index: int = -1) -> SysReg:
    return SysReg(name, 3, 4, 12, crm, op2, read, write, "", doc, index)


GICV3_SYSREGS: Final[tuple[SysReg, ...]] = (
    # -- CPU interface (IHI 0069H §12.2) -------------------------------------------------
    _icc("ICC_PMR_EL1", 6, 0, "read_pmr", "write_pmr", "01", "§12.2.19 priority mask", crn=4),
    _icc("ICC_IAR0_EL1", 8, 0, "read_iar0", None, "0", "§12.2.13 acknowledge, Group 0"),
    _icc("ICC_EOIR0_EL1", 8, 1, None, "write_eoir0", "0", "§12.2.9 end of interrupt, Group 0"),
    _icc("ICC_HPPIR0_EL1", 8, 2, "read_hppir0", None, "0", "§12.2.11 highest pending, Group 0"),
    _icc("ICC_BPR0_EL1", 8, 3, "read_bpr0", "write_bpr0", "0", "§12.2.4 binary point, Group 0"),
    *[_icc(f"ICC_AP0R{n}_EL1", 8, 4 + n, "read_ap0r", "write_ap0r", "0",
           "§12.2.1 active priorities, Group 0", index=n) for n in range(4)],
    *[_icc(f"ICC_AP1R{n}_EL1", 9, n, "read_ap1r", "write_ap1r", "1",
           "§12.2.2 active priorities, Group 1", index=n) for n in range(4)],
    _icc("ICC_DIR_EL1", 11, 1, None, "write_dir", "01", "§12.2.8 deactivate interrupt"),
    _icc("ICC_RPR_EL1", 11, 3, "read_rpr", None, "01", "§12.2.20 running priority"),
    _icc("ICC_SGI1R_EL1", 11, 5, None, "write_sgi1r", "", "§12.2.22 generate Group 1 SGI"),
    _icc("ICC_ASGI1R_EL1", 11, 6, None, "write_asgi1r", "", "§12.2.3 generate alias Group 1 SGI"),
    _icc("ICC_SGI0R_EL1", 11, 7, None, "write_sgi0r", "", "§12.2.21 generate Group 0 SGI"),
    _icc("ICC_IAR1_EL1", 12, 0, "read_iar1", None, "1", "§12.2.14 acknowledge, Group 1"),
    _icc("ICC_EOIR1_EL1", 12, 1, None, "write_eoir1", "1", "§12.2.10 end of interrupt, Group 1"),
    _icc("ICC_HPPIR1_EL1", 12, 2, "read_hppir1", None, "1", "§12.2.12 highest pending, Group 1"),
    _icc("ICC_BPR1_EL1", 12, 3, "read_bpr1", "write_bpr1", "1", "§12.2.5 binary point, Group 1"),
    _icc("ICC_CTLR_EL1", 12, 4, "read_ctlr", "write_ctlr", "01", "§12.2.6 control"),
    _icc("ICC_SRE_EL1", 12, 5, "read_sre_el1", "write_sre_el1", "", "§12.2.23 SRE, EL1"),
    _icc("ICC_IGRPEN0_EL1", 12, 6, "read_igrpen0", "write_igrpen0", "0", "§12.2.15 Group 0 enable"),
    _icc("ICC_IGRPEN1_EL1", 12, 7, "read_igrpen1", "write_igrpen1", "1", "§12.2.16 Group 1 enable"),
    SysReg("ICC_SRE_EL2", 3, 4, 12, 9, 5, "read_sre_el2", "write_sre_el2", "",
           "§12.2.24 SRE, EL2"),
    # -- virtualization control (IHI 0069H §12.4) -----------------------------------------
    *[_ich(f"ICH_AP0R{n}_EL2", 8, n, "read_ap0r", "write_ap0r",
           "§12.4.1 virtual active priorities, Group 0", index=n) for n in range(4)],
    *[_ich(f"ICH_AP1R{n}_EL2", 9, n, "read_ap1r", "write_ap1r",
           "§12.4.2 virtual active priorities, Group 1", index=n) for n in range(4)],
    _ich("ICH_HCR_EL2", 11, 0, "read_hcr", "write_hcr", "§12.4.4 hypervisor control"),
    _ich("ICH_VTR_EL2", 11, 1, "read_vtr", None, "§12.4.8 VGIC type"),
    _ich("ICH_MISR_EL2", 11, 2, "read_misr", None, "§12.4.7 maintenance interrupt state"),
    _ich("ICH_EISR_EL2", 11, 3, "read_eisr", None, "§12.4.3 end of interrupt status"),
    _ich("ICH_ELRSR_EL2", 11, 5, "read_elrsr", None, "§12.4.5 empty list register status"),
    _ich("ICH_VMCR_EL2", 11, 7, "read_vmcr", "write_vmcr", "§12.4.9 virtual machine control"),
    *[_ich(f"ICH_LR{n}_EL2", 12 + n // 8, n % 8, "read_lr", "write_lr",
           "§12.4.6 list register", index=n) for n in range(16)],
)
"""Every GICv3 CPU-interface system register (without the EL3 ones: no EL3 here)."""

_BY_NAME: Final = {r.name: r for r in GICV3_SYSREGS}
_BY_ENC: Final = {r.enc: r for r in GICV3_SYSREGS}

ICV_NAMES: Final[dict[str, SysReg]] = {
    "ICV" + r.name[3:]: r for r in GICV3_SYSREGS if r.virt
}
"""``ICV_*_EL1`` name → the ``ICC_*_EL1`` entry whose encoding it shares (§12.3)."""


def sysreg_by_name(name: str) -> tuple[SysReg, bool]:
    """``(entry, virtual)`` for an ``ICC_*``/``ICH_*``/``ICV_*`` name (KeyError if unknown);
    ``virtual`` is True for ``ICV_*`` names."""
    up = name.upper()
    if up in _BY_NAME:
        return _BY_NAME[up], False
    return ICV_NAMES[up], True


def route(enc: int, el: int, imo: bool, fmo: bool) -> tuple[SysReg, bool]:
    """Which register an MRS/MSR of encoding ``enc`` at ``el`` reaches: ``(entry, virtual)``.

    IHI 0069H §12.1.5 and §12.3 (see the module docstring); raises
    :class:`SysRegUndefined` for an encoding that is not a GIC register here or an
    ``*_EL2`` register accessed at EL1 (the SGI registers at EL1 with IMO/FMO trap to EL2,
    reported as undefined as well).
    """
    reg = _BY_ENC.get(enc)
    if reg is None:
        raise SysRegUndefined(f"no GIC system register with encoding {enc:#06x}")
    if el >= 2:
        return reg, False
    if reg.el2_only:
        raise SysRegUndefined(f"{reg.name} is not accessible at EL1")
    if reg.name.startswith("ICC_SGI") or reg.name.startswith("ICC_ASGI"):
        if imo or fmo:
            raise SysRegUndefined(f"{reg.name} at EL1 with HCR_EL2.IMO/FMO traps to EL2")
        return reg, False
    v = reg.virt
    virtual = ("1" in v and imo) or ("0" in v and fmo)
    return reg, virtual


ReadFn = Callable[[], int]
WriteFn = Callable[[int], None]


def _undef_read(name: str) -> ReadFn:
    def read() -> int:
        raise SysRegUndefined(f"{name} is write-only: a read is UNDEFINED")

    return read


def _undef_write(name: str) -> WriteFn:
    def write(value: int) -> None:
        raise SysRegUndefined(f"{name} is read-only: a write is UNDEFINED")

    return write


class SysRegBlock:
    """Name → handlers of a set of :class:`SysReg` entries, resolved on ``owner`` once.

    ``implemented`` filters the table (e.g. ``ICH_LR<n>_EL2`` beyond ICH_VTR_EL2.ListRegs,
    ``ICC_AP0R<n>`` beyond the implemented preemption bits): the others raise
    :class:`SysRegUndefined` like a CPU that does not implement them.
    """

    __slots__ = ("_read", "_write", "name", "regs")

    def __init__(self, name: str, regs: Iterable[SysReg], owner: object,
                 implemented: Callable[[SysReg], bool] | None = None) -> None:
        self.name = name
        self.regs: tuple[SysReg, ...] = tuple(
            r for r in regs if implemented is None or implemented(r))
        self._read: dict[str, ReadFn] = {}
        self._write: dict[str, WriteFn] = {}
        for r in self.regs:
            self._read[r.name] = (self._reader(owner, r.read, r.index) if r.read
                                  else _undef_read(r.name))
            self._write[r.name] = (self._writer(owner, r.write, r.index) if r.write
                                   else _undef_write(r.name))

    @staticmethod
    def _resolve(owner: object, handler: str) -> Callable[..., int | None]:
        fn = getattr(owner, handler, None)
        if fn is None or not callable(fn):
            raise ValueError(f"handler {handler!r} not found on {type(owner).__name__}")
        return fn

    @classmethod
    def _reader(cls, owner: object, handler: str, index: int) -> ReadFn:
        fn: Callable[..., int] = cls._resolve(owner, handler)  # type: ignore[assignment]
        if index < 0:
            return fn

        def read() -> int:
            return fn(index)

        return read

    @classmethod
    def _writer(cls, owner: object, handler: str, index: int) -> WriteFn:
        fn: Callable[..., None] = cls._resolve(owner, handler)  # type: ignore[assignment]
        if index < 0:
            return fn

        def write(value: int) -> None:
            fn(index, value)

        return write

    def read(self, name: str) -> int:
        """Read register ``name`` (an ``ICC_``/``ICH_`` name of this block)."""
        fn = self._read.get(name)
        if fn is None:
            raise SysRegUndefined(f"{self.name}: {name} is not implemented")
        return fn()

    def write(self, name: str, value: int) -> None:
        """Write ``value`` to register ``name``."""
        fn = self._write.get(name)
        if fn is None:
            raise SysRegUndefined(f"{self.name}: {name} is not implemented")
        fn(value & 0xFFFF_FFFF_FFFF_FFFF)

    def has(self, name: str) -> bool:
        """True if ``name`` is implemented by this block."""
        return name in self._read
