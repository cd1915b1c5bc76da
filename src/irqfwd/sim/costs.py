"""Cost profiles: how long each modelled operation takes, in nanoseconds.

Models never hard-code durations; they read them from a :class:`CostProfile`.  Profiles are
TOML files validated by pydantic (unknown keys and negative values are errors).  The default
profile, ``profiles/altra.toml``, is calibrated on KVM/arm64 on Ampere Altra (Neoverse-N1,
GICv3 host, kvm-unit-tests ``arm/micro-bench``; ``docs/calibration.md``):
hypercall 306 ns, in-kernel vGIC MMIO 451 ns, user-space MMIO 1,683 ns, guest EOI 14 ns,
emulated IPI 1,926 ns, vtimer injection 902 ns (the last two through parameters fitted to
them).  ``irqfwd calibrate`` re-runs those micro-benchmarks in the simulator, fits a profile on
some of them and predicts the others (:mod:`irqfwd.calibrate.fit`).
"""

# mypyc: interpreted (CostProfile is a pydantic model)
from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["CostProfile", "load_profile"]

Ns = Field(ge=0)


class CostProfile(BaseModel):
    """Durations in ns of the operations the models charge for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "altra"
    description: str = ""

    # --- exceptions and world switch (EL1 <-> EL2) ---
    exception_entry_ns: int = Ns  # physical IRQ/trap exception entry into the host vector
    exception_return_ns: int = Ns  # ERET back to the interrupted context
    trap_to_el2_ns: int = Ns  # guest exit: trap into KVM's exit path (before handling)
    guest_entry_ns: int = Ns  # KVM's entry path back into the guest (after flush)
    world_switch_out_ns: int = Ns  # save guest core state (GPRs, sysregs, FP), restore host
    world_switch_in_ns: int = Ns  # save host core state, restore guest
    gich_save_fixed_ns: int = Ns  # vgic save: GICH_VMCR/APR/ELRSR/EISR/MISR reads
    gich_restore_fixed_ns: int = Ns  # vgic restore: GICH_HCR/VMCR/APR writes
    lr_save_ns: int = Ns  # per used list register, read GICH_LRn
    lr_restore_ns: int = Ns  # per used list register, write GICH_LRn

    # --- GIC accesses ---
    gicd_access_ns: int = Ns  # one physical distributor MMIO access
    gicc_access_ns: int = Ns  # one physical CPU interface access (IAR/EOIR/DIR)
    gicv_access_ns: int = Ns  # one guest virtual CPU interface access (no trap)

    # --- exit handling in KVM ---
    hypercall_ns: int = Ns  # HVC handling in KVM (beyond trap + entry)
    mmio_emul_kernel_ns: int = Ns  # in-kernel MMIO emulation (vgic distributor), beyond trap
    mmio_emul_user_ns: int = Ns  # exit to the VMM in user space and back, beyond trap
    vgic_inject_ns: int = Ns  # kvm_vgic_inject_irq: update state, queue on ap_list
    vgic_flush_ns: int = Ns  # kvm_vgic_flush_hwstate fixed part (ap_list walk)
    vgic_fold_ns: int = Ns  # kvm_vgic_sync_hwstate fixed part
    maintenance_handler_ns: int = Ns  # host handler of the maintenance PPI
    kick_ipi_ns: int = Ns  # kvm_vcpu_kick: flight of the IPI to the pCPU running a vCPU
    wfi_block_ns: int = Ns  # kvm_vcpu_block entry when the guest executes WFI
    vcpu_wakeup_ns: int = Ns  # wake a blocked vCPU thread (kvm_vcpu_wake_up + schedule)

    # --- host kernel ---
    host_irq_handler_ns: int = Ns  # genirq flow handler overhead (handle_fasteoi_irq)
    vfio_handler_ns: int = Ns  # vfio_irq_handler body (mask + signal)
    eventfd_signal_ns: int = Ns  # eventfd_signal + waking the waiter
    kworker_work_ns: int = Ns  # process_one_work overhead per work item on a kworker
    host_tick_ns: int = Ns  # the host tick handler (tick_sched_timer: jiffies, scheduler_tick, timers)
    halt_poll_check_ns: int = Ns  # ending halt polling: kvm_vcpu_check_block found the vCPU runnable
    irqfd_inject_ns: int = Ns  # irqfd_inject → kvm_set_irq
    resample_ns: int = Ns  # irqfd_resampler_ack: de-assert + signal resamplefds
    vfio_unmask_ns: int = Ns  # VFIO unmask via virqfd (enable_irq)
    irqchip_state_ns: int = Ns  # irq_get/set_irqchip_state (one distributor access + locking)
    sched_switch_ns: int = Ns  # host scheduler switch between vCPU threads
    hrtimer_ns: int = Ns  # hrtimer expiry handling on the host
    pci_cfg_access_ns: int = Field(default=500, ge=0)  # one PCI configuration access (ECAM,
    # a non-posted PCIe transaction): pci_check_and_mask_intx / pci_check_and_unmask_intx
    # --- the VMM in user space (QEMU without KVM irqfd: the KVM_IRQ_LINE path) ---
    vmm_fd_handler_ns: int = Field(default=600, ge=0)  # main loop: ppoll returns, the fd
    # handler runs, read() of the eventfd
    kvm_irq_line_ns: int = Field(default=300, ge=0)  # ioctl(KVM_IRQ_LINE) beyond the injection
    vfio_ioctl_ns: int = Field(default=400, ge=0)  # ioctl(VFIO_DEVICE_SET_IRQS) beyond the unmask
    vfio_region_access_ns: int = Field(default=1200, ge=0)  # pread/pwrite of a VFIO region:
    # the syscall and the device register access from the host
    memslot_update_ns: int = Field(default=20000, ge=0)  # KVM_SET_USER_MEMORY_REGION that
    # removes or adds a BAR's mapping (stage-2 unmap + TLB invalidation, or the new slot)
    its_cmd_ns: int = Field(default=253, ge=0)  # KVM's emulated ITS, per command the guest
    # queued: vgic_its_process_commands reading it from guest memory (kvm_read_guest),
    # vgic_its_handle_command (its_lock, the device/ITE lookup, the action); calibrated on
    # micro-bench lpi (GICv3); an INT's injection happens after it
    kvm_timer_irq_ns: int = Field(default=310, ge=0)  # host side of the vtimer PPI beyond the GIC
    # driver and the vgic injection: irq_enter/exit, kvm_arch_timer_handler (timer map,
    # kvm_timer_should_fire sysreg reads, tracepoint); calibrated on timer_10ms

    # --- guest ---
    guest_irq_entry_ns: int = Ns  # guest exception entry to its GIC driver
    guest_handler_ns: int = Ns  # default device handler work in the guest
    guest_irq_exit_ns: int = Ns  # guest exception return
    guest_mmio_ack_ns: int = Ns  # guest access to a pass-through device register (no exit)
    guest_timer_handler_ns: int = Field(default=1500, ge=0)  # Linux guest tick handler body
    # (arch_timer_handler_virt + tick_handle_periodic/hrtimer_interrupt), excluding IAR/EOIR

    @classmethod
    def from_toml(cls, path: Path) -> CostProfile:
        """Load and validate a profile; raises ``ValueError`` naming the file, the field and
        the problem (every field is required: a profile states every cost)."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{path}: no such cost profile") from None
        except IsADirectoryError:
            raise ValueError(f"{path}: is a directory, not a cost profile") from None
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not a UTF-8 text file") from None
        except OSError as exc:
            raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: invalid TOML: {exc}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            missing = [str(err["loc"][0]) for err in exc.errors() if err["type"] == "missing" and err["loc"]]
            problems = [
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors() if err["type"] != "missing"
            ]
            if missing:
                shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
                problems.append(f"missing field(s) {shown}")
            raise ValueError(f"{path}: {'; '.join(problems)}") from None


def load_profile(name_or_path: str = "altra") -> CostProfile:
    """A built-in profile by name (``altra``) or a TOML file by path."""
    builtin = resources.files("irqfwd.sim").joinpath("profiles", f"{name_or_path}.toml")
    if builtin.is_file():
        return CostProfile.model_validate(tomllib.loads(builtin.read_text()))
    return CostProfile.from_toml(Path(name_or_path))
