"""The vgic core's seam (issue 8): the core (``arch/arm64/kvm/vgic/vgic.c``) reaches list
registers and the virtual interface only through the back end chosen at
``kvm_vgic_hyp_init``.  A recording stand-in back end is plugged in for the GICv2 one and
flush/fold are driven through it: the core calls ``populate_lr`` once per queued irq (in
ap_list order, up to ``nr_lr``), ``set_underflow`` (up to 2025) or ``configure_hcr`` (the
2025 rework) for the maintenance requests, ``fold_lr_state`` when LRs were used, and never
touches a GICv2 register itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from irqfwd.config import HostConfig, ScenarioConfig, VMConfig
from irqfwd.host.kvm.arm_vgic import VgicVmcr
from irqfwd.host.kvm.kvm_host import Kvm, KvmVcpu, VgicIrq, VgicOps
from irqfwd.host.kvm.vgic import (
    kvm_vgic_flush_hwstate,
    kvm_vgic_inject_irq,
    kvm_vgic_sync_hwstate,
    kvm_vgic_vcpu_pending_irq,
)
from irqfwd.system.build import build_system

SRC = Path(__file__).resolve().parents[3] / "src" / "irqfwd" / "host" / "kvm"


class RecordingOps(VgicOps):
    """A stand-in back end: records every call; its "list registers" are plain lists."""

    name = "recording"

    def __init__(self, nr_lr: int) -> None:
        self.calls: list[tuple[str, int]] = []
        self.nr_lr = nr_lr
        self.lrs: dict[int, list[VgicIrq | None]] = {}
        self.pmr = 0xF0

    def vcpu_init(self, vcpu: KvmVcpu) -> None:
        self.lrs[vcpu.vcpu_id] = [None] * self.nr_lr

    def map_resources(self, kvm: Kvm) -> None:
        self.calls.append(("map_resources", kvm.index))

    def populate_lr(self, vcpu: KvmVcpu, irq: VgicIrq, lr: int) -> None:
        self.calls.append(("populate_lr", irq.intid))
        self.lrs[vcpu.vcpu_id][lr] = irq
        if irq.config == 0:
            irq.pending_latch = False

    def clear_lr(self, vcpu: KvmVcpu, lr: int) -> None:
        self.lrs[vcpu.vcpu_id][lr] = None

    def set_underflow(self, vcpu: KvmVcpu) -> None:
        self.calls.append(("set_underflow", vcpu.vcpu_id))

    def configure_hcr(self, vcpu: KvmVcpu, pending_outside: bool, active_outside: bool,
                      nr_sgi: int) -> None:
        self.calls.append(("configure_hcr", 2 * pending_outside + active_outside))

    def fold_lr_state(self, vcpu: KvmVcpu) -> None:
        """The guest acknowledged and deactivated everything that was in an LR."""
        self.calls.append(("fold_lr_state", vcpu.vgic_cpu.used_lrs))
        for lr in range(vcpu.vgic_cpu.used_lrs):
            irq = self.lrs[vcpu.vcpu_id][lr]
            assert irq is not None
            irq.active = False
            irq.line_level = False
            self.lrs[vcpu.vcpu_id][lr] = None
        vcpu.vgic_cpu.used_lrs = 0

    def get_vmcr(self, vcpu: KvmVcpu, vmcr: VgicVmcr) -> None:
        self.calls.append(("get_vmcr", vcpu.vcpu_id))
        vmcr.pmr = self.pmr

    def vmcr_sync(self, vcpu: KvmVcpu, cpu: int) -> None:
        self.calls.append(("vmcr_sync", cpu))

    def save_state(self, vcpu: KvmVcpu, cpu: int) -> int:
        self.calls.append(("save_state", cpu))
        return 0

    def restore_state(self, vcpu: KvmVcpu, cpu: int) -> int:
        self.calls.append(("restore_state", cpu))
        return 0

    def load(self, vcpu: KvmVcpu, cpu: int) -> int:
        return 0

    def put(self, vcpu: KvmVcpu, cpu: int) -> int:
        return 0


def _vm_with(ops: RecordingOps, nr_lr: int, kernel: str = "current") -> Kvm:
    """A built system whose one VM's vgic uses ``ops`` (as kvm_vgic_hyp_init would set it)."""
    cfg = ScenarioConfig(name="seam", vms=[VMConfig(vcpus=1)], devices=[], num_lrs=nr_lr,
                         host=HostConfig(kernel=kernel))
    s = build_system(cfg, "irqfd-resample")
    kvm = s.vms[0]
    kvm.vgic.ops = ops
    kvm.vgic.nr_lr = nr_lr
    for vcpu in kvm.vcpus:
        ops.vcpu_init(vcpu)
    kvm.vgic.enabled = True
    return kvm


def test_flush_and_fold_go_through_the_back_end() -> None:
    """``kvm_vgic_flush_hwstate`` → ``vgic_populate_lr`` per ap_list entry;
    ``kvm_vgic_sync_hwstate`` → ``vgic_fold_lr_state`` (vgic.c)."""
    ops = RecordingOps(4)
    kvm = _vm_with(ops, 4)
    vcpu = kvm.vcpus[0]
    for intid in (40, 41):
        irq = kvm.vgic.spis[intid - 32]
        irq.enabled = True
        irq.priority = 0xA0
        assert kvm_vgic_inject_irq(kvm, None, intid, True, None) == 0
    assert [i.intid for i in vcpu.vgic_cpu.ap_list] == [40, 41]
    kvm_vgic_flush_hwstate(vcpu)
    assert ops.calls == [("populate_lr", 40), ("populate_lr", 41), ("configure_hcr", 0)]
    assert vcpu.vgic_cpu.used_lrs == 2
    ops.calls.clear()
    kvm_vgic_sync_hwstate(vcpu)
    assert ops.calls == [("fold_lr_state", 2)]
    assert vcpu.vgic_cpu.ap_list == []  # pruned: nothing pending or active any more


@pytest.mark.parametrize(("kernel", "request_"), [
    ("6.1", ("set_underflow", 0)),     # vgic_flush_lr_state → vgic_set_underflow
    ("current", ("configure_hcr", 2)),  # vgic_v2_configure_hcr: pending irqs left out
])
def test_overflow_asks_the_back_end_for_maintenance(kernel: str, request_: tuple[str, int]) -> None:
    """More queued irqs than list registers: ``nr_lr`` populated, the back end asked for the
    maintenance interrupt that brings the rest in, the rest counted as ``lr_spills``."""
    ops = RecordingOps(2)
    kvm = _vm_with(ops, 2, kernel)
    vcpu = kvm.vcpus[0]
    for intid in (40, 41, 42):
        irq = kvm.vgic.spis[intid - 32]
        irq.enabled = True
        kvm_vgic_inject_irq(kvm, None, intid, True, None)
    kvm_vgic_flush_hwstate(vcpu)
    assert [c for c in ops.calls if c[0] == "populate_lr"] == [("populate_lr", 40), ("populate_lr", 41)]
    assert request_ in ops.calls
    assert kvm.m.recorder.counters["lr_spills"] == 1


def test_pending_check_reads_the_priority_mask_through_get_vmcr() -> None:
    """``kvm_vgic_vcpu_pending_irq`` compares with ``vgic_get_vmcr``'s PMR: an irq at or
    below the mask is not pending for WFI purposes."""
    ops = RecordingOps(4)
    kvm = _vm_with(ops, 4)
    vcpu = kvm.vcpus[0]
    irq = kvm.vgic.spis[8]
    irq.enabled = True
    irq.priority = 0xA0
    kvm_vgic_inject_irq(kvm, None, 40, True, None)
    assert kvm_vgic_vcpu_pending_irq(vcpu) is True
    ops.pmr = 0xA0
    assert kvm_vgic_vcpu_pending_irq(vcpu) is False
    assert ("get_vmcr", 0) in ops.calls


def test_core_names_no_gicv2_register() -> None:
    """The core and its headers contain no GICv2 register or field name (GICH_*, GICV_*,
    GICC_*, GICD_*, ``vgic_v2``), in code or identifiers."""
    for name in ("vgic.py", "arm_vgic.py", "kvm_host.py"):
        text = (SRC / name).read_text()
        tree = ast.parse(text)
        idents = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        idents |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        idents |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        bad = {i for i in idents if i.startswith(("GICH_", "GICV_", "GICC_", "GICD_"))}
        if name != "kvm_host.py" and name != "arm_vgic.py":
            bad |= {i for i in idents if "vgic_v2" in i.lower() or "v2cpuif" in i.lower()}
        assert not bad, f"{name}: {sorted(bad)}"
