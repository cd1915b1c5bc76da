"""GICv3 physical CPU interface: the ``ICC_*_EL1`` system registers of one PE
(Arm IHI 0069H §12.2; the pseudocode of §4.7–4.8 for priority drop and deactivation).

Accessed at EL2 (or at EL1 with ``HCR_EL2.IMO = FMO = 0``) through
:meth:`irqfwd.hw.gicv3.gic.GICv3.read_sysreg` / ``write_sysreg``, or directly through the
named accessors (``read_iar1()``, ``write_eoir1(v)``, ``write_dir(v)``, ...), which have
exactly the semantics of the register access they are named after.

A single Security state (GICD_CTLR.DS = 1): Group 0 interrupts are signalled as FIQ,
Group 1 as IRQ; ``ICC_SRE_EL1`` reads 0x7 and ``ICC_SRE_EL2`` 0xF (system register
interface always on, as QEMU).  Priorities: :attr:`GICv3Config.pri_bits` implemented
bits (cortex-a57: 5), as many preemption bits; the active priorities are one bit per group
priority in ``ICC_AP0R<n>`` / ``ICC_AP1R<n>`` (§4.8.1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from irqfwd.hw.gic.device import CpuOutputs
from irqfwd.hw.gic.sysregs import GICV3_SYSREGS, SysReg, SysRegBlock
from irqfwd.hw.gicv3.config import GICv3Config

if TYPE_CHECKING:
    from irqfwd.hw.gicv3.core import GicV3Core

__all__ = ["ICC_CTLR_CBPR", "ICC_CTLR_EOIMODE", "IDLE_PRIORITY", "INTID_SPURIOUS",
           "CpuInterface", "group_priority_mask", "is_special"]

INTID_SPURIOUS: Final = 1023
IDLE_PRIORITY: Final = 0xFF
ICC_CTLR_CBPR: Final = 1 << 0
ICC_CTLR_EOIMODE: Final = 1 << 1
ICC_CTLR_A3V: Final = 1 << 15
ICC_CTLR_IDBITS_24: Final = 1 << 11


def is_special(intid: int) -> bool:
    """INTIDs 1020–1023 (§2.2.1)."""
    return 1020 <= intid <= 1023


def group_priority_mask(bpr: int, group1: bool) -> int:
    """Mask of the group-priority bits for binary point ``bpr`` (§4.8.3, Table 4-7):
    ``ICC_BPR0`` = n → bits [7:n+1]; ``ICC_BPR1`` = n → bits [7:n]."""
    return (0xFF << (bpr if group1 else bpr + 1)) & 0xFF


def _implemented_icc(cfg: GICv3Config) -> Callable[[SysReg], bool]:
    def ok(reg: SysReg) -> bool:
        if not reg.name.startswith("ICC_"):
            return False
        if reg.name[:8] in ("ICC_AP0R", "ICC_AP1R"):
            return int(reg.name[8]) < 1 << (cfg.pre_bits - 5)
        return True

    return ok


class CpuInterface:
    """The ICC_* registers of one PE (physical CPU interface)."""

    __slots__ = (
        "_apr_shift",
        "_pri_mask",
        "ap",
        "bpr0",
        "bpr1",
        "config",
        "cpu",
        "ctlr",
        "gic",
        "igrpen",
        "napr",
        "out",
        "pmr",
        "regs",
    )

    def __init__(self, cpu: int, config: GICv3Config, gic: GicV3Core) -> None:
        self.cpu = cpu
        self.config = config
        self.gic = gic
        self.out = CpuOutputs()
        self.napr = 1 << (config.pre_bits - 5)
        self._pri_mask = (0xFF << (8 - config.pri_bits)) & 0xFF
        self._apr_shift = 8 - config.pre_bits
        self.ap: list[list[int]] = [[0] * self.napr, [0] * self.napr]
        """Active priorities per group (ICC_AP0R<n>, ICC_AP1R<n>)."""
        self.pmr = 0
        self.bpr0 = self.min_bpr0
        self.bpr1 = self.min_bpr0 + 1
        self.ctlr = 0
        self.igrpen = [False, False]
        self.regs = SysRegBlock(f"ICC cpu{cpu}", GICV3_SYSREGS, self, _implemented_icc(config))

    @property
    def min_bpr0(self) -> int:
        """Minimum ICC_BPR0_EL1: 7 - preemption bits (§12.2.4)."""
        return 7 - self.config.pre_bits

    def reset(self) -> None:
        """Reset values (§12.2): PMR 0, BPR0 minimum, BPR1 minimum + 1, groups disabled."""
        self.ap = [[0] * self.napr, [0] * self.napr]
        self.pmr = 0
        self.bpr0 = self.min_bpr0
        self.bpr1 = self.min_bpr0 + 1
        self.ctlr = 0
        self.igrpen = [False, False]

    # -- priority bookkeeping -------------------------------------------------------------

    def gmask(self, group: int) -> int:
        """Group-priority mask of ``group`` (ICC_CTLR_EL1.CBPR: Group 1 uses ICC_BPR0)."""
        if group == 0 or self.ctlr & ICC_CTLR_CBPR:
            return group_priority_mask(self.bpr0, False)
        return group_priority_mask(self.bpr1, True)

    def running_priority(self) -> int:
        """ICC_RPR_EL1: the group priority of the highest active priority bit of either
        group, 0xFF when none (§12.2.20)."""
        for i in range(self.napr):
            bits = self.ap[0][i] | self.ap[1][i]
            if bits:
                return ((i << 5) + (bits & -bits).bit_length() - 1) << self._apr_shift
        return IDLE_PRIORITY

    def highest_active_group(self) -> int:
        """Group of the highest active priority (Group 0 on a tie), -1 if none."""
        for i in range(self.napr):
            a0, a1 = self.ap[0][i], self.ap[1][i]
            if a0 or a1:
                if not a1 or (a0 and (a0 & -a0) <= (a1 & -a1)):
                    return 0
                return 1
        return -1

    def can_signal(self, prio: int, group: int) -> bool:
        """A pending interrupt of ``prio``/``group`` is signalled and can be acknowledged:
        group enabled, priority above the mask and its group priority above the running
        priority (§4.8.5, §4.8.6)."""
        if not self.igrpen[group] or prio >= self.pmr:
            return False
        rpr = self.running_priority()
        if rpr == IDLE_PRIORITY:
            return True
        m = self.gmask(group)
        return (prio & m) < (rpr & m)

    def _activate_priority(self, prio: int, group: int) -> None:
        bit = (prio & self.gmask(group)) >> self._apr_shift
        self.ap[group][bit >> 5] |= 1 << (bit & 31)

    def _drop_priority(self, group: int) -> None:
        """Clear the highest active priority bit of ``group`` (§4.8.2 priority drop)."""
        apr = self.ap[group]
        for i in range(self.napr):
            if apr[i]:
                apr[i] &= apr[i] - 1
                return

    # -- acknowledge / EOI / deactivate (§12.2.9–12.2.14, §12.2.8) -----------------------

    def _acknowledge(self, group: int) -> int:
        h = self.gic.hppi(self.cpu)
        if h is None:
            return INTID_SPURIOUS
        intid, prio, grp = h
        if grp != group or not self.can_signal(prio, grp):
            return INTID_SPURIOUS
        self._activate_priority(prio, grp)
        self.gic.activate(self.cpu, intid)
        return intid

    def read_iar0(self) -> int:
        """ICC_IAR0_EL1: acknowledge the HPPI if it is Group 0 and can be signalled
        (1023 otherwise); SGIs/PPIs/SPIs become active, LPIs inactive (§12.2.13)."""
        return self._acknowledge(0)

    def read_iar1(self) -> int:
        """ICC_IAR1_EL1: as ICC_IAR0_EL1 for Group 1 (§12.2.14)."""
        return self._acknowledge(1)

    def _hppir(self, group: int) -> int:
        h = self.gic.hppi(self.cpu)
        if h is None or h[2] != group or not self.igrpen[group]:
            return INTID_SPURIOUS
        return h[0]

    def read_hppir0(self) -> int:
        """ICC_HPPIR0_EL1: the HPPI if it is Group 0 and Group 0 is enabled at the CPU
        interface (ICC_IGRPEN0_EL1), regardless of PMR and the running priority
        (§12.2.11)."""
        return self._hppir(0)

    def read_hppir1(self) -> int:
        """ICC_HPPIR1_EL1 (§12.2.12)."""
        return self._hppir(1)

    def _eoi(self, value: int, group: int) -> None:
        intid = value & 0xFF_FFFF
        if is_special(intid) or (self.config.num_irqs <= intid < 8192):
            return
        if self.highest_active_group() != group:
            # no active priority, or the highest one belongs to the other group: the EOI
            # is ignored (CONSTRAINED UNPREDICTABLE, §4.8.2; QEMU's choice as well)
            return
        self._drop_priority(group)
        if not self.ctlr & ICC_CTLR_EOIMODE:
            self.gic.deactivate(self.cpu, intid, "eoir")
        self.gic.update(self.cpu)

    def write_eoir0(self, value: int) -> None:
        """ICC_EOIR0_EL1: priority drop of Group 0, plus deactivation when EOImode = 0
        (§12.2.9)."""
        self._eoi(value, 0)

    def write_eoir1(self, value: int) -> None:
        """ICC_EOIR1_EL1 (§12.2.10)."""
        self._eoi(value, 1)

    def write_dir(self, value: int) -> None:
        """ICC_DIR_EL1: deactivate INTID (EOImode = 1 only; ignored otherwise, §12.2.8)."""
        if not self.ctlr & ICC_CTLR_EOIMODE:
            return
        intid = value & 0xFF_FFFF
        if intid < self.config.num_irqs:
            self.gic.deactivate(self.cpu, intid, "dir")
            self.gic.update(self.cpu)

    # -- plain registers ----------------------------------------------------------------

    def read_pmr(self) -> int:
        """ICC_PMR_EL1 (§12.2.19)."""
        return self.pmr

    def write_pmr(self, value: int) -> None:
        self.pmr = value & self._pri_mask
        self.gic.update(self.cpu)

    def read_bpr0(self) -> int:
        """ICC_BPR0_EL1 (§12.2.4)."""
        return self.bpr0

    def write_bpr0(self, value: int) -> None:
        self.bpr0 = max(value & 7, self.min_bpr0)
        self.gic.update(self.cpu)

    def read_bpr1(self) -> int:
        """ICC_BPR1_EL1 (§12.2.5): with CBPR = 1 reads ICC_BPR0 + 1 (at most 7)."""
        if self.ctlr & ICC_CTLR_CBPR:
            return min(self.bpr0 + 1, 7)
        return self.bpr1

    def write_bpr1(self, value: int) -> None:
        if self.ctlr & ICC_CTLR_CBPR:
            return
        self.bpr1 = max(value & 7, self.min_bpr0 + 1)
        self.gic.update(self.cpu)

    def read_ctlr(self) -> int:
        """ICC_CTLR_EL1 (§12.2.6): CBPR, EOImode RW; PRIbits, IDbits (24), A3V RO."""
        return self.ctlr | (self.config.pri_bits - 1) << 8 | ICC_CTLR_IDBITS_24 | ICC_CTLR_A3V

    def write_ctlr(self, value: int) -> None:
        self.ctlr = value & (ICC_CTLR_CBPR | ICC_CTLR_EOIMODE)
        self.gic.update(self.cpu)

    def read_sre_el1(self) -> int:
        """ICC_SRE_EL1: SRE, DFB, DIB RAO/WI (§12.2.23)."""
        return 0x7

    def write_sre_el1(self, value: int) -> None:
        return None

    def read_sre_el2(self) -> int:
        """ICC_SRE_EL2: SRE, DFB, DIB, Enable RAO/WI (§12.2.24)."""
        return 0xF

    def write_sre_el2(self, value: int) -> None:
        return None

    def read_igrpen0(self) -> int:
        """ICC_IGRPEN0_EL1 (§12.2.15)."""
        return int(self.igrpen[0])

    def write_igrpen0(self, value: int) -> None:
        self.igrpen[0] = bool(value & 1)
        self.gic.update(self.cpu)

    def read_igrpen1(self) -> int:
        """ICC_IGRPEN1_EL1 (§12.2.16)."""
        return int(self.igrpen[1])

    def write_igrpen1(self, value: int) -> None:
        self.igrpen[1] = bool(value & 1)
        self.gic.update(self.cpu)

    def read_rpr(self) -> int:
        """ICC_RPR_EL1 (§12.2.20)."""
        return self.running_priority()

    def read_ap0r(self, n: int) -> int:
        """ICC_AP0R<n>_EL1 (§12.2.1)."""
        return self.ap[0][n]

    def write_ap0r(self, n: int, value: int) -> None:
        self.ap[0][n] = value & 0xFFFF_FFFF
        self.gic.update(self.cpu)

    def read_ap1r(self, n: int) -> int:
        """ICC_AP1R<n>_EL1 (§12.2.2)."""
        return self.ap[1][n]

    def write_ap1r(self, n: int, value: int) -> None:
        self.ap[1][n] = value & 0xFFFF_FFFF
        self.gic.update(self.cpu)

    # -- SGI generation (§12.2.21, §12.2.22, §12.2.3) ---------------------------------

    def write_sgi0r(self, value: int) -> None:
        """ICC_SGI0R_EL1: generate a Group 0 SGI."""
        self.gic.send_sgi(self.cpu, value, 0)

    def write_sgi1r(self, value: int) -> None:
        """ICC_SGI1R_EL1: generate a Group 1 SGI."""
        self.gic.send_sgi(self.cpu, value, 1)

    def write_asgi1r(self, value: int) -> None:
        """ICC_ASGI1R_EL1: the alias (other Security state) Group 1 SGI; with a single
        Security state it reaches SGIs configured as Group 0 (as QEMU, §12.2.3)."""
        self.gic.send_sgi(self.cpu, value, 2)
