"""Stateful property tests of the GICv2 model's register interface (issue 13 §2).

Two hypothesis ``RuleBasedStateMachine``s drive the model only through its MMIO registers
and input lines, and after every step compare it with a small reference written from the
architecture (Arm IHI 0048B), not from the model:

* :class:`DistributorCpuMachine`: SPIs and PPIs on 2 CPUs, group 0.  The reference keeps,
  per interrupt, enable, pending latch, line, level/edge, active, priority and targets
  (§3.2.4 state machine, §4.3), and per CPU the priority mask, EOImode and the stack of
  active priorities (§3.3).  Checked after every step: GICD_ISPENDR/ISACTIVER/ISENABLER
  (and their clear aliases) read the reference state; GICC_HPPIR is the highest-priority
  pending interrupt (lowest INTID on a tie); GICC_RPR the running priority; the IRQ output
  is asserted exactly when GICC_IAR would return an interrupt (priority below GICC_PMR and
  below the running priority).  GICC_IAR returns what the reference predicts and
  activates it; GICC_EOIR drops the running priority (and deactivates in EOImode 0);
  GICC_DIR deactivates (EOImode 1).
* :class:`VirtualInterfaceMachine`: GICH_LRn / GICH_HCR written by a hypervisor and
  GICV_IAR / EOIR / DIR by a guest on one CPU.  Checked after every step (§5.3, §5.4):
  GICH_ELRSR has bit n set exactly when LRn holds no interrupt (state invalid and, for a
  software LR, no pending EOI maintenance), GICH_EISR bit n exactly when LRn is invalid,
  HW=0 and EOI=1; GICH_MISR.EOI = EISR ≠ 0, .U = UIE and at most one valid LR, .NP = NPIE and
  no pending LR, .LRENP = LRENPIE and EOICount ≠ 0; the maintenance PPI 25 is asserted
  exactly when HCR.En and MISR ≠ 0; the virtual IRQ output exactly when GICV_IAR would return
  an LR's interrupt; an EOI of an interrupt in no LR increments EOICount (EOImode 0).

``IRQFWD_STATEFUL_EXAMPLES`` sets the examples per machine (default 60 in CI, 40 steps each);
``IRQFWD_STATEFUL_REPORT=FILE`` writes the examples and steps run (JSON).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from irqfwd.hw.gicv2.config import GICv2Config
from irqfwd.hw.gicv2.gic import GICv2

EXAMPLES = int(os.environ.get("IRQFWD_STATEFUL_EXAMPLES", "60"))
STATEFUL = settings(max_examples=EXAMPLES, stateful_step_count=40, deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow])

COUNTS: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Any:
    yield
    path = os.environ.get("IRQFWD_STATEFUL_REPORT")
    if path:
        Path(path).write_text(json.dumps(dict(sorted(COUNTS.items())), indent=2) + "\n")


def _count(key: str) -> None:
    COUNTS[key] = COUNTS.get(key, 0) + 1


CFG = GICv2Config(num_cpus=2, num_irqs=64)
D, C, H, V = CFG.gicd_base, CFG.gicc_base, CFG.gich_base, CFG.gicv_base
SPIS = (32, 33, 34, 35, 40, 63)
PPIS = (26, 27, 30, 31)
IDLE = 0x100
PRIOS = (0x00, 0x40, 0x41, 0x42, 0x50, 0x51, 0x52, 0x5E, 0x5F, 0x80, 0xA0, 0xEF, 0xF0, 0xFF)
"""Priorities close together, so that group priorities (GICC_BPR = 0: bits [7:1]) decide."""

# GICD (§4.3) and GICC (§4.4) offsets
ISENABLER, ICENABLER, ISPENDR, ICPENDR, ISACTIVER, ICACTIVER = 0x100, 0x180, 0x200, 0x280, 0x300, 0x380
IPRIORITYR, ITARGETSR, ICFGR = 0x400, 0x800, 0xC00
CTLR, PMR, BPR, IAR, EOIR, RPR, HPPIR, DIR = 0x00, 0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x1000


class _Irq:
    __slots__ = ("active", "edge", "enabled", "latch", "line", "prio", "targets")

    def __init__(self) -> None:
        self.enabled = False
        self.latch = False
        self.line = False
        self.edge = False
        self.active = False
        self.prio = 0
        self.targets = 0

    def pending(self) -> bool:
        """§3.2.4: edge-triggered: the latch; level-sensitive: the latch or the line."""
        return self.latch or (self.line and not self.edge)


class DistributorCpuMachine(RuleBasedStateMachine):
    """The distributor and the CPU interfaces against the architectural reference."""

    def __init__(self) -> None:
        super().__init__()
        _count("gic_examples")
        self.g = GICv2(CFG)
        self.spi = {i: _Irq() for i in SPIS}
        self.ppi = [{i: _Irq() for i in PPIS} for _ in range(2)]
        self.pmr = [0, 0]
        self.eoimode = [0, 0]
        self.stack: list[list[tuple[int, int]]] = [[], []]  # (group priority, INTID) acknowledged
        self.dropped: list[list[int]] = [[], []]  # EOImode 1: dropped, not yet deactivated
        g = self.g
        g.write(D + CTLR, 1)  # GICD_CTLR.EnableGrp0
        # start from an enabled system so that short sequences interact: PMR 0xF0, every
        # interrupt enabled with a priority of its own, SPIs targeted at CPU 0
        for cpu in (0, 1):
            g.write(C + CTLR, 1, cpu=cpu)  # GICC_CTLR.EnableGrp0, EOImode 0
            g.write(C + PMR, 0xF0, cpu=cpu)
            self.pmr[cpu] = 0xF0
            for n, i in enumerate(PPIS):
                irq = self.ppi[cpu][i]
                irq.targets = 1 << cpu
                irq.enabled = True
                irq.prio = PRIOS[n % len(PRIOS)]
                g.write(D + ISENABLER, 1 << i, cpu=cpu)
                g.write(D + IPRIORITYR + i, irq.prio, size=1, cpu=cpu)
        for n, i in enumerate(SPIS):
            irq = self.spi[i]
            irq.targets = 1
            irq.enabled = True
            irq.prio = PRIOS[(n + 2) % len(PRIOS)]
            g.write(D + ITARGETSR + i, 1, size=1)
            g.write(D + ISENABLER + 4, 1 << (i & 31))
            g.write(D + IPRIORITYR + i, irq.prio, size=1)

    # ---------------------------------------------------------------- reference helpers
    def _irq(self, intid: int, cpu: int) -> _Irq:
        return self.spi[intid] if intid >= 32 else self.ppi[cpu][intid]

    def _candidates(self, cpu: int) -> list[tuple[int, int]]:
        out = []
        for i, irq in [*self.ppi[cpu].items(), *self.spi.items()]:
            if irq.enabled and irq.pending() and not irq.active and irq.targets >> cpu & 1:
                out.append((irq.prio, i))
        return sorted(out)

    def _running(self, cpu: int) -> int:
        return min((p for p, _ in self.stack[cpu]), default=IDLE)

    def _signalled(self, cpu: int) -> int | None:
        """The INTID GICC_IAR returns (§3.3: below PMR and preempting the running priority)."""
        cands = self._candidates(cpu)
        if not cands:
            return None
        prio, intid = cands[0]
        group_prio = prio & 0xFE  # GICC_BPR = 0 at reset: group priority [7:1]
        if prio < self.pmr[cpu] and group_prio < self._running(cpu):
            return intid
        return None

    # ---------------------------------------------------------------- rules: inputs
    @rule(i=st.sampled_from(SPIS + PPIS), cpu=st.integers(0, 1), level=st.booleans())
    def set_line(self, i: int, cpu: int, level: bool) -> None:
        irq = self._irq(i, cpu)
        if irq.edge and level and not irq.line:
            irq.latch = True  # a rising edge latches (§3.2.4)
        irq.line = level
        self.g.set_line(i, level, cpu if i < 32 else None)

    # ---------------------------------------------------------------- rules: distributor
    @rule(i=st.sampled_from(SPIS + PPIS), cpu=st.integers(0, 1),
          reg=st.sampled_from(["isenable", "icenable", "ispend", "icpend", "isactive", "icactive"]))
    def set_clear(self, i: int, cpu: int, reg: str) -> None:
        irq = self._irq(i, cpu)
        base = {"isenable": ISENABLER, "icenable": ICENABLER, "ispend": ISPENDR, "icpend": ICPENDR,
                "isactive": ISACTIVER, "icactive": ICACTIVER}[reg]
        if reg in ("isactive", "icactive") and any(j == i for stack in self.stack for _, j in stack):
            return  # changing the Active state of an acknowledged interrupt leaves its priority
            # stacked: the architecture does not say what EOI then does (not exercised)
        self.g.write(D + base + 4 * (i >> 5), 1 << (i & 31), cpu=cpu)
        if reg == "isenable":
            irq.enabled = True
        elif reg == "icenable":
            irq.enabled = False
        elif reg == "ispend":
            irq.latch = True
        elif reg == "icpend":
            irq.latch = False  # a level line stays asserted (§4.3.8)
        elif reg == "isactive":
            irq.active = True
        else:
            irq.active = False
            for dropped in self.dropped:
                if i in dropped:
                    dropped.remove(i)

    @rule(i=st.sampled_from(SPIS + PPIS), cpu=st.integers(0, 1), prio=st.sampled_from(PRIOS) | st.integers(0, 255))
    def priority(self, i: int, cpu: int, prio: int) -> None:
        if any(j == i for stack in self.stack for _, j in stack):
            return  # the priority of an acknowledged interrupt is what its EOI drops: keep it
        self.g.write(D + IPRIORITYR + i, prio, size=1, cpu=cpu)
        self._irq(i, cpu).prio = prio  # 8 implemented priority bits (GICv2Config.prio_bits)

    @rule(i=st.sampled_from(SPIS), mask=st.integers(0, 3))
    def set_targets(self, i: int, mask: int) -> None:
        self.g.write(D + ITARGETSR + i, mask, size=1)
        self.spi[i].targets = mask

    @rule(i=st.sampled_from(SPIS + PPIS), cpu=st.integers(0, 1), edge=st.booleans())
    def config(self, i: int, cpu: int, edge: bool) -> None:
        irq = self._irq(i, cpu)
        if irq.line:
            return  # reconfiguring an asserted line is not exercised
        reg = D + ICFGR + 4 * (i >> 4)
        bit = 2 << (2 * (i & 15))
        word = self.g.read(reg, cpu=cpu)
        self.g.write(reg, word | bit if edge else word & ~bit, cpu=cpu)
        irq.edge = edge

    # ---------------------------------------------------------------- rules: CPU interface
    @rule(cpu=st.integers(0, 1), pmr=st.sampled_from([0, 0x40, 0x80, 0xA0, 0xF0, 0xFF]))
    def set_pmr(self, cpu: int, pmr: int) -> None:
        self.g.write(C + PMR, pmr, cpu=cpu)
        self.pmr[cpu] = pmr

    @precondition(lambda self: not any(self.stack) and not any(self.dropped))
    @rule(cpu=st.integers(0, 1), mode=st.integers(0, 1))
    def set_eoimode(self, cpu: int, mode: int) -> None:
        self.g.write(C + CTLR, 1 | (mode << 9), cpu=cpu)
        self.eoimode[cpu] = mode

    @rule(cpu=st.integers(0, 1))
    def acknowledge(self, cpu: int) -> None:
        want = self._signalled(cpu)
        got = self.g.read(C + IAR, cpu=cpu) & 0x3FF
        assert got == (1023 if want is None else want), f"GICC_IAR of CPU {cpu}: {got}, expected {want}"
        if want is not None:
            irq = self._irq(want, cpu)
            irq.latch = False  # the acknowledge clears the latch; a level line stays asserted
            irq.active = True
            self.stack[cpu].append((irq.prio & 0xFE, want))

    @precondition(lambda self: any(self.stack))
    @rule(cpu=st.integers(0, 1))
    def end_of_interrupt(self, cpu: int) -> None:
        if not self.stack[cpu]:
            return
        _, intid = self.stack[cpu].pop()  # EOIs in reverse order of acknowledgement
        self.g.write(C + EOIR, intid, cpu=cpu)
        if self.eoimode[cpu]:
            self.dropped[cpu].append(intid)
        else:
            self._irq(intid, cpu).active = False

    @precondition(lambda self: any(self.dropped))
    @rule(cpu=st.integers(0, 1))
    def deactivate(self, cpu: int) -> None:
        if not self.dropped[cpu]:
            return
        intid = self.dropped[cpu].pop(0)
        self.g.write(C + DIR, intid, cpu=cpu)
        self._irq(intid, cpu).active = False

    # ---------------------------------------------------------------- invariants
    @invariant()
    def state_registers_read_the_reference(self) -> None:
        _count("gic_steps")
        g = self.g
        for cpu in (0, 1):
            for word in (0, 1):
                ids = [i for i in (*PPIS, *SPIS) if i >> 5 == word]
                if not ids:
                    continue
                mask = sum(1 << (i & 31) for i in ids)
                want = {
                    "enable": sum(1 << (i & 31) for i in ids if self._irq(i, cpu).enabled),
                    "pending": sum(1 << (i & 31) for i in ids if self._irq(i, cpu).pending()),
                    "active": sum(1 << (i & 31) for i in ids if self._irq(i, cpu).active),
                }
                for name, (s, c) in {"enable": (ISENABLER, ICENABLER), "pending": (ISPENDR, ICPENDR),
                                     "active": (ISACTIVER, ICACTIVER)}.items():
                    a = g.read(D + s + 4 * word, cpu=cpu) & mask
                    b = g.read(D + c + 4 * word, cpu=cpu) & mask
                    assert a == b == want[name], f"{name} word {word} CPU {cpu}: {a:#x}/{b:#x}, expected {want[name]:#x}"

    @invariant()
    def hppir_rpr_and_irq_output(self) -> None:
        g = self.g
        for cpu in (0, 1):
            cands = self._candidates(cpu)
            hppir = g.read(C + HPPIR, cpu=cpu) & 0x3FF
            assert hppir == (cands[0][1] if cands else 1023), f"GICC_HPPIR CPU {cpu}: {hppir}, expected {cands[:1]}"
            run = self._running(cpu)
            assert g.read(C + RPR, cpu=cpu) == (0xFF if run == IDLE else run)
            assert g.outputs[cpu].irq == (self._signalled(cpu) is not None), f"IRQ output of CPU {cpu}"
            ci = g.cpu_if[cpu]  # what GICC_IAR takes: the HPPI as the last update() found it
            assert ci.signalled == ci._signalled(), f"CpuInterface.signalled of CPU {cpu} is stale"


# --------------------------------------------------------------------------- virtual interface

HCR, VTR, VMCR, MISR, EISR0, ELRSR0, APR, LR0 = 0x00, 0x04, 0x08, 0x10, 0x20, 0x30, 0xF0, 0x100
NUM_LRS = 4
EN, UIE, LRENPIE, NPIE = 1, 2, 4, 8


def _lr(vintid: int, state: int, prio: int, hw: bool, eoi: bool) -> int:
    value = vintid | (state << 28) | ((prio >> 3) << 23)
    if hw:
        value |= (1 << 31) | ((vintid + 16) << 10)  # pINTID = vINTID + 16: SPIs 48+ of the host
    elif eoi:
        value |= 1 << 19
    return value


class VirtualInterfaceMachine(RuleBasedStateMachine):
    """GICH and GICV of CPU 0 against the rules of §5.3/§5.4 (state read back, not mirrored)."""

    def __init__(self) -> None:
        super().__init__()
        _count("virt_examples")
        self.g = GICv2(GICv2Config(num_cpus=1, num_irqs=96, num_lrs=NUM_LRS))
        self.g.write(V + CTLR, 1)  # GICV_CTLR.EnableGrp0
        self.g.write(V + PMR, 0xF8)
        self.acked: list[int] = []
        self.eoimode = 0

    def _lrs(self) -> list[int]:
        return [self.g.read(H + LR0 + 4 * n) for n in range(NUM_LRS)]

    @rule(n=st.integers(0, NUM_LRS - 1), vintid=st.sampled_from([32, 33, 40, 48, 60]),
          state=st.integers(0, 3), prio=st.sampled_from([0x00, 0x50, 0xA0, 0xF0]), hw=st.booleans(),
          eoi=st.booleans())
    def write_lr(self, n: int, vintid: int, state: int, prio: int, hw: bool, eoi: bool) -> None:
        if hw and state == 3:
            state = 2  # HW=1 LRs are never written pending+active (§5.3.8: UNPREDICTABLE)
        if any(((lr & 0x3FF) == vintid and lr >> 28 & 3) for k, lr in enumerate(self._lrs()) if k != n):
            return  # the same vINTID valid in two LRs is UNPREDICTABLE
        self.g.write(H + LR0 + 4 * n, _lr(vintid, state, prio, hw, eoi))
        self.acked = [i for i in self.acked if any((lr & 0x3FF) == i and lr >> 29 & 1 for lr in self._lrs())]

    @rule(bits=st.integers(0, 15), eoicount=st.integers(0, 2))
    def write_hcr(self, bits: int, eoicount: int) -> None:
        self.g.write(H + HCR, bits | (eoicount << 27))

    @precondition(lambda self: not self.acked)
    @rule(mode=st.integers(0, 1))
    def set_eoimode(self, mode: int) -> None:
        self.g.write(V + CTLR, 1 | (mode << 9))
        self.eoimode = mode

    @rule()
    def guest_acknowledges(self) -> None:
        expect_virq = self.g.outputs[0].virq
        got = self.g.read(V + IAR) & 0x3FF
        # the vIRQ output is asserted exactly when GICV_IAR returns an interrupt (§5.4)
        assert (got < 1020) == expect_virq, (got, expect_virq)
        if got < 1020:
            self.acked.append(got)

    @precondition(lambda self: bool(self.acked))
    @rule()
    def guest_eoi(self) -> None:
        self.g.write(V + EOIR, self.acked.pop())

    @rule(vintid=st.sampled_from([33, 41, 59]))
    def guest_eoi_of_an_interrupt_in_no_lr(self, vintid: int) -> None:
        """EOI of an ID in no LR (§5.3.1 EOICount): EOImode 0 counts it when it drops a
        priority; a DIR of an ID in no LR always counts (EOImode 1)."""
        if any((lr & 0x3FF) == vintid and lr >> 28 & 3 for lr in self._lrs()):
            return
        before = self.g.read(H + HCR) >> 27
        apr = self.g.read(H + APR)
        if self.eoimode:
            self.g.write(V + DIR, vintid)
            assert self.g.read(H + HCR) >> 27 == (before + 1) & 0x1F
        elif apr and not self.acked:
            self.g.write(V + EOIR, vintid)
            assert self.g.read(H + HCR) >> 27 == (before + 1) & 0x1F

    @invariant()
    def status_registers_follow_the_lrs(self) -> None:
        _count("virt_steps")
        g = self.g
        lrs = self._lrs()
        hcr = g.read(H + HCR)
        state = [lr >> 28 & 3 for lr in lrs]
        hw = [lr >> 31 & 1 for lr in lrs]
        eoi = [lr >> 19 & 1 for lr in lrs]
        eisr = sum(1 << n for n in range(NUM_LRS) if state[n] == 0 and not hw[n] and eoi[n])
        elrsr = sum(1 << n for n in range(NUM_LRS) if state[n] == 0 and not (eoi[n] and not hw[n]))
        assert g.read(H + EISR0) == eisr, (hex(g.read(H + EISR0)), hex(eisr), [hex(x) for x in lrs])
        assert g.read(H + ELRSR0) == elrsr, (hex(g.read(H + ELRSR0)), hex(elrsr), [hex(x) for x in lrs])
        misr = g.read(H + MISR)
        valid = sum(1 for s in state if s)
        assert bool(misr & 1) == bool(eisr)
        assert bool(misr & 2) == bool(hcr & UIE and valid <= 1)
        assert bool(misr & 4) == bool(hcr & LRENPIE and hcr >> 27)
        assert bool(misr & 8) == bool(hcr & NPIE and not any(s == 1 for s in state))
        # the maintenance interrupt (PPI 25) is asserted exactly when En and MISR != 0 (§5.3.4)
        assert g.dist.line[0][0] >> 25 & 1 == int(bool(hcr & EN and misr)), (hex(hcr), hex(misr))


TestDistributorCpu = DistributorCpuMachine.TestCase
TestDistributorCpu.settings = STATEFUL
TestVirtualInterface = VirtualInterfaceMachine.TestCase
TestVirtualInterface.settings = STATEFUL
