"""Stateful property test of the whole stack (issue 13 §2): hypothesis drives a built system
through the operations of its API in any order and checks the global invariants after
every step.

The system: 2 pCPUs, one VM with 2 vCPUs (Linux-like guest, pinned one per pCPU), a level
NIC (SPI 48 → vCPU 0) and an edge NIC (SPI 49 → vCPU 1), under each correct design
(``vmm-irqline``, QEMU's INTx path for level interrupts only, with both NICs level).  The
devices have no traffic of their own; the rules are:

* ``device_asserts``: the device gets an event and raises (a level line goes high, an edge
  pulses);
* ``device_withdraws``: the device clears its events and drops its line by itself
  (:meth:`~irqfwd.devices.nic.Nic.withdraw`: a de-assertion racing the host's and the
  guest's acknowledge and EOI);
* ``run``: 0 to 30 µs of simulated time (the guests acknowledge, EOI and DIR, KVM loads and
  puts vCPUs, injects, folds, resamples; the host takes and deactivates);
* ``migrate``: every vCPU moves to the other pCPU (put on one, load on the other);
* ``teardown``: the VM is destroyed (the end of the example).

Checked after every step (``ecosystem-and-conventions.md`` §2.9 and the invariant checker):

* no rule of the online checker is broken (``deactivate-exactly-once``, ``edge-exactly-once``,
  ``hw-lr-pending-active``, ``stale-active``, ``level-storm``...);
* no list register of any pCPU holds a HW=1 interrupt pending+active (IHI 0048B §5.3.8);
* a HW-mapped interrupt that is pending or active for the vgic (or in a live list register)
  has its physical INTID active in the distributor;
* every vgic interrupt on a vCPU's ap_list says so (``irq.vcpu``), and none is on two lists.

After the teardown: the end-of-run rules (nothing lost, nothing left active or VFIO-masked),
no device INTID active or pending in the distributor, every list register empty and every
virtual interface disabled (GICH_HCR.En = 0).

``IRQFWD_STATEFUL_EXAMPLES`` sets the examples per design (default 25 in CI, 25 steps each);
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

from irqfwd.check.invariants import InvariantChecker
from irqfwd.config import DeviceConfig, ScenarioConfig, SchedulerConfig, TrafficConfig, VMConfig
from irqfwd.hw.machine import GUEST
from irqfwd.system.build import System, build_system
from irqfwd.system.teardown import Teardown

EXAMPLES = int(os.environ.get("IRQFWD_STATEFUL_EXAMPLES", "25"))
STATEFUL = settings(max_examples=EXAMPLES, stateful_step_count=25, deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow])
COUNTS: dict[str, int] = {}

CONFIG = ScenarioConfig(
    name="stateful-stack",
    duration_ns=10_000_000,
    pcpus=2,
    vms=[VMConfig(vcpus=2, pin=[0, 1])],
    devices=[
        DeviceConfig(name="nic0", vcpu=0, trigger="level", host_intid=48, guest_intid=48,
                     traffic=TrafficConfig(count=1)),
        DeviceConfig(name="nic1", vcpu=1, trigger="edge", host_intid=49, guest_intid=49,
                     traffic=TrafficConfig(count=1)),
    ],
    # migration only by the rule (the periodic one is armed far beyond any example)
    scheduler=SchedulerConfig(policy="pinned", migrate_every_ns=10**12),
)

CONFIG_LEVEL = CONFIG.model_copy(update={"devices": [
    CONFIG.devices[0], CONFIG.devices[1].model_copy(update={"trigger": "level"})]})
"""For vmm-irqline (QEMU's INTx path: level devices only): both NICs level."""


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Any:
    yield
    path = os.environ.get("IRQFWD_STATEFUL_REPORT")
    if path:
        Path(path).write_text(json.dumps(dict(sorted(COUNTS.items())), indent=2) + "\n")


def _count(key: str) -> None:
    COUNTS[key] = COUNTS.get(key, 0) + 1


class StackMachine(RuleBasedStateMachine):
    design = "forwarded"
    config = CONFIG

    def __init__(self) -> None:
        super().__init__()
        _count(f"{self.design}:examples")
        self.s: System = build_system(self.config, self.design, seed=0)
        # grace 200 µs: raises and activations older than that must be complete at the end
        self.checker = InvariantChecker(self.s.recorder, self.design, grace_ns=200_000)
        self.done = False
        self.s.machine.run(20_000)  # the guests boot and idle

    # ---------------------------------------------------------------- rules
    @precondition(lambda self: not self.done)
    @rule(dev=st.integers(0, 1))
    def device_asserts(self, dev: int) -> None:
        nic = self.s.devices[dev].nic
        nic.pending += 1
        nic.events += 1
        nic._maybe_raise()

    @precondition(lambda self: not self.done)
    @rule(dev=st.integers(0, 1))
    def device_withdraws(self, dev: int) -> None:
        self.s.devices[dev].nic.withdraw()

    @rule(ns=st.sampled_from([0, 1, 150, 400, 1_000, 3_000, 10_000, 30_000]))
    def run(self, ns: int) -> None:
        """(Also after the teardown: the system stays quiet and clean.)"""
        self.s.machine.run(self.s.engine.now + ns)

    @precondition(lambda self: not self.done)
    @rule()
    def migrate(self) -> None:
        self.s.host.sched._migrate()

    @precondition(lambda self: not self.done)
    @rule()
    def teardown(self) -> None:
        s = self.s
        s.machine.run(s.engine.now + 300_000)  # everything raised so far is handled
        td = Teardown(s)
        td.kill()
        s.machine.run(s.engine.now + 2_000_000)
        assert td.done, "the teardown did not complete"
        self.checker.finish(s.engine.now)
        self.done = True
        d = s.gic.dist
        for w in s.devices:
            assert not d.is_active(w.cfg.host_intid), f"INTID {w.cfg.host_intid} left active"
            assert not d.is_pending(w.cfg.host_intid), f"INTID {w.cfg.host_intid} left pending"
            assert not w.vfio.masked
        for h in s.gic.hyp:
            # no vCPU is loaded: every list register empty and the virtual interface off
            # (GICH_APR may keep the active priority of a guest killed inside its handler:
            # vgic_v2_put reads it, the next vgic_v2_load overwrites it, as in Linux)
            assert all(lr >> 28 & 3 == 0 for lr in h.lr), [hex(x) for x in h.lr]
            assert h.h_hcr & 1 == 0, hex(h.h_hcr)

    # ---------------------------------------------------------------- invariants
    @invariant()
    def no_invariant_broken(self) -> None:
        _count(f"{self.design}:steps")
        assert [v.message for v in self.checker.violations] == []

    @invariant()
    def no_hw_lr_pending_active(self) -> None:
        for h in self.s.gic.hyp:
            for lr in h.lr:
                assert not (lr >> 31 and lr >> 28 & 3 == 3), hex(lr)

    @invariant()
    def mapped_irq_physically_active_while_virtually_pending_or_active(self) -> None:
        s = self.s
        for w in s.devices:
            irq = s.vms[0].vgic.spis[w.cfg.guest_intid - 32]
            if not irq.hw:
                continue
            virtual = irq.active or irq.irq_is_pending()
            for cpu, h in zip(s.machine.pcpus, s.gic.hyp, strict=True):
                if cpu.mode == GUEST:
                    virtual |= any((lr & 0x3FF) == irq.intid and lr >> 28 & 3 for lr in h.lr)
            if virtual:
                assert s.gic.dist.is_active(w.cfg.host_intid), (
                    f"vINTID {irq.intid} pending/active but physical INTID {w.cfg.host_intid} inactive")

    @invariant()
    def ap_lists_are_consistent(self) -> None:
        seen: set[int] = set()
        for vcpu in self.s.vms[0].vcpus:
            for irq in vcpu.vgic_cpu.ap_list:
                assert irq.vcpu is vcpu
                assert id(irq) not in seen, f"vINTID {irq.intid} on two ap_lists"
                seen.add(id(irq))


def _machine(design: str, config: ScenarioConfig = CONFIG) -> type[StackMachine]:
    return type(f"StackMachine_{design.replace('-', '_')}", (StackMachine,), {"design": design, "config": config})


TestIrqfdResample = _machine("irqfd-resample").TestCase
TestForwarded = _machine("forwarded").TestCase
TestForwardedDirect = _machine("forwarded-direct").TestCase
TestSwDeactivate = _machine("sw-deactivate").TestCase
TestVmmIrqline = _machine("vmm-irqline", CONFIG_LEVEL).TestCase
TestIrqfdResample.settings = STATEFUL
TestForwarded.settings = STATEFUL
TestForwardedDirect.settings = STATEFUL
TestSwDeactivate.settings = STATEFUL
TestVmmIrqline.settings = STATEFUL
