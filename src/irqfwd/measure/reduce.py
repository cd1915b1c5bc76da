"""Reduce the VMM's raw counts to counts per interrupt.

For every measured run the VMM also runs a *baseline*: the same guest and set-up, as long
as the measured run, with no interrupt source.  A quantity per interrupt is
``(count in the run - count in the baseline) / N``: what the host does because of the
interrupts, without its background (host tick, RCU, the VMM's own start and stop).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from irqfwd.measure.protocol import (
    BootOutput,
    HistEntry,
    ProtocolError,
    RunOutput,
    parse_interrupts,
)

__all__ = ["EC_NAMES", "QUANTITIES", "Quantity", "Reduced", "RepCounts", "quantity_label",
           "reduce_experiment", "run_counts"]

EC_NAMES = {
    0x00: "UNKNOWN", 0x01: "WFx", 0x03: "CP15_32", 0x04: "CP15_64", 0x05: "CP14_MR",
    0x06: "CP14_LS", 0x07: "FP_ASIMD", 0x0C: "CP14_64", 0x0E: "ILL", 0x11: "SVC32",
    0x12: "HVC32", 0x13: "SMC32", 0x15: "SVC64", 0x16: "HVC64", 0x17: "SMC64", 0x18: "SYS64",
    0x19: "SVE", 0x1A: "ERET", 0x1C: "FPAC", 0x20: "IABT_LOW", 0x21: "IABT_CUR", 0x22: "PC_ALIGN",
    0x24: "DABT_LOW", 0x25: "DABT_CUR", 0x26: "SP_ALIGN", 0x2C: "FP_EXC64", 0x2F: "SERROR",
    0x30: "BREAKPT_LOW", 0x32: "SOFTSTP_LOW", 0x34: "WATCHPT_LOW", 0x3C: "BRK64",
}
"""ESR_ELx.EC values as Linux names them (arch/arm64/include/asm/esr.h)."""
_RET_NAMES = {0: "IRQ", 1: "SERROR", 3: "IL"}
"""kvm_exit's ``ret`` (ARM_EXCEPTION_CODE): 0 IRQ, 1 SError, 2 trap (then ``esr_ec``), 3 IL."""


@dataclass(frozen=True)
class Quantity:
    """A quantity of the per-interrupt table."""

    key: str
    label: str
    model: str | None = None
    """The model counter compared with it (``exits.WFx``...), or None if not modelled."""
    note: str = ""
    timebased: bool = False
    """Background that scales with the run's duration (host tick...): under TCG a run lasts
    several times longer than on hardware, so these are inflated there."""


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("exits_total", "exits (kvm_exit)", "exits_total"),
    Quantity("exits.IRQ", "  IRQ exits", "exits.IRQ"),
    Quantity("exits.WFx", "  WFx exits", "exits.WFx"),
    Quantity("exits.DABT_LOW", "  data-abort (MMIO) exits", "exits.DABT_LOW"),
    Quantity("exits.SYS64", "  system-register trap exits", "exits.SYS64"),
    Quantity("entries", "guest entries (kvm_entry)", "kvm_entries"),
    Quantity("wakeups", "vCPU wake-ups (kvm_vcpu_wakeup)", "vcpu_wakeups"),
    Quantity("wakeups.slept", "  after sleeping (waited)", "vcpu_wakeups_waited"),
    Quantity("wakeups.polled", "  without sleeping (halt polling found it, or already pending)",
             "vcpu_wakeups_polled"),
    Quantity("wakeups.invalid", "  halt ended without a pending interrupt", "vcpu_wakeups_invalid"),
    Quantity("eoi_notifications", "EOI notifications (kvm_ack_irq)", "kvm_ack_irq"),
    Quantity("resamplefd_signals", "resamplefd signals (read by the VMM)", "resamplefd_signals"),
    Quantity("eventfd_signals", "eventfd signals (irqfd + resamplefd)", "eventfd_signals"),
    Quantity("vmm_reasserts", "re-assertions by the VMM (VFIO INTx unmask, line still high)",
             "vfio_intx_resend"),
    Quantity("irq_line_calls", "KVM_IRQ_LINE calls by the VMM (raise + lower)", "kvm_irq_line"),
    Quantity("maintenance_irqs", "maintenance interrupts handled (host handler 'vgic')",
             "maintenance_irq_host",
             "KVM zeroes GICH_HCR/ICH_HCR_EL2 when it saves the vgic on the exit the maintenance "
             "interrupt caused, so the level PPI is gone before the host unmasks IRQs"),
    Quantity("host_irqs", "host interrupts for the guest (vgic, guest timers, device)", "host_irqs_guest",
             "the device's interrupt is the VMM's emulated one (one per request or re-assertion)"),
    Quantity("vtimer_host_irqs", "  'kvm guest vtimer' handler runs"),
    Quantity("timer_irq_injected", "vtimer level raised (kvm_timer_update_irq)",
             "timer_irq_injected"),
    Quantity("timer_hrtimer_wakeups", "KVM timer hrtimers expired (kvm_bg_timer_expire, kvm_hrtimer_expire)",
             "timer_wakeups"),
    Quantity("timer_save", "timer state saved at vcpu_put (kvm_timer_save_state)", "timer_save"),
    Quantity("timer_restore", "timer state restored at vcpu_load (kvm_timer_restore_state)",
             "timer_restore"),
    Quantity("spi_injections", "SPI injections (vgic_update_irq_pending, level 1)", "spi_injections"),
    Quantity("injections_inatomic", "  of which in atomic context (no kvm_set_irq)",
             "irqfd_inject_inatomic"),
    Quantity("injections_workqueue", "irqfd injections deferred to a work item (irqfd_inject)",
             "irqfd_inject_work"),
    Quantity("host_tick", "host tick expiries (tick_nohz_handler / tick_sched_timer), all CPUs", timebased=True),
    Quantity("host_timer_irqs", "host timer interrupts (arch_timer), all CPUs", timebased=True),
    Quantity("ipi_resched", "rescheduling IPIs"),
    Quantity("ipi_call", "function-call IPIs"),
    Quantity("ipi_irq_work", "IRQ-work IPIs"),
    Quantity("ipi_other", "other IPIs"),
    Quantity("sched_in_vcpu", "context switches to a vCPU thread", "sched_in_vcpu"),
    Quantity("sched_switch", "context switches, all CPUs", timebased=True),
    Quantity("guest_spurious", "spurious interrupts seen by the guest"),
)
_BY_KEY = {q.key: q for q in QUANTITIES}


def quantity_label(key: str) -> str:
    """The table label of ``key`` (dynamic keys such as ``exits.HVC64`` included)."""
    q = _BY_KEY.get(key)
    if q is not None:
        return q.label
    if key.startswith("exits."):
        return f"  {key[6:]} exits"
    if "@vcpu" in key:
        base, _, v = key.partition("@")
        return f"{quantity_label(base).strip()} [{v}]"
    return key


def _exit_reason(keys: dict[str, str]) -> str:
    try:
        ret = int(keys.get("ret", "2"))
        ec = int(keys.get("esr_ec", "0"))
    except ValueError:
        return "UNKNOWN"
    if ret != 2:
        return _RET_NAMES.get(ret, f"RET{ret}")
    return EC_NAMES.get(ec, f"EC{ec:#x}")


def _int(keys: dict[str, str], name: str, default: int = -1) -> int:
    try:
        return int(keys.get(name, str(default)))
    except ValueError:
        return default


def _entries(run: RunOutput, event: str) -> list[HistEntry]:
    return run.hists.get(event, [])


_VCPU_TIMER_FUNCS = ("kvm_bg_timer_expire", "kvm_hrtimer_expire")
_TICK_FUNCS = ("tick_nohz_handler", "tick_sched_timer", "tick_nohz_highres_handler")
_IPI_ROWS = {"Rescheduling interrupts": "ipi_resched", "Function call interrupts": "ipi_call",
             "IRQ work interrupts": "ipi_irq_work"}


def run_counts(run: RunOutput) -> dict[str, float]:
    """The raw counts of one run, by quantity key (every key of QUANTITIES present)."""
    c: Counter[str] = Counter({q.key: 0 for q in QUANTITIES})
    tids = {run.stats[f"vcpu{i}_tid"]: i for i in range(run.vcpus) if f"vcpu{i}_tid" in run.stats}
    per_vcpu = run.vcpus > 1

    def vcpu_of(e: HistEntry) -> int | None:
        return tids.get(_int(e.keys, "common_pid"))

    for e in _entries(run, "kvm:kvm_exit"):
        v = vcpu_of(e)
        if v is None:
            continue
        reason = _exit_reason(e.keys)
        c["exits_total"] += e.count
        c[f"exits.{reason}"] += e.count
        if per_vcpu:
            c[f"exits_total@vcpu{v}"] += e.count
            c[f"exits.{reason}@vcpu{v}"] += e.count
    for e in _entries(run, "kvm:kvm_entry"):
        if vcpu_of(e) is not None:
            c["entries"] += e.count
    for e in _entries(run, "kvm:kvm_vcpu_wakeup"):
        v = vcpu_of(e)
        if v is None:
            continue
        c["wakeups"] += e.count
        if _int(e.keys, "valid", 1) == 0:
            c["wakeups.invalid"] += e.count
        elif _int(e.keys, "waited", 1):
            c["wakeups.slept"] += e.count
        else:
            c["wakeups.polled"] += e.count
        if per_vcpu:
            c[f"wakeups@vcpu{v}"] += e.count
    for e in _entries(run, "kvm:kvm_ack_irq"):
        c["eoi_notifications"] += e.count
    set_irq_high = sum(e.count for e in _entries(run, "kvm:kvm_set_irq")
                       if _int(e.keys, "level", 0) == 1)
    for e in _entries(run, "kvm:vgic_update_irq_pending"):
        if _int(e.keys, "level", 0) == 1 and _int(e.keys, "irq", 0) >= 32:
            c["spi_injections"] += e.count
    line_high = sum(e.count for e in _entries(run, "kvm:kvm_irq_line")
                    if _int(e.keys, "level", 0) == 1)
    c["injections_inatomic"] = max(0, c["spi_injections"] - set_irq_high - line_high)
    for e in _entries(run, "kvm:kvm_timer_update_irq"):
        if _int(e.keys, "level", 0) == 1 and _int(e.keys, "irq", 0) == 27:
            c["timer_irq_injected"] += e.count
    # One save (restore) per timer context the vCPU owns directly, at each vcpu_put (load):
    # count the puts, i.e. the most frequent context (which index the tracepoint reports
    # for the vtimer differs between VHE and nVHE).
    for event, key in (("kvm:kvm_timer_save_state", "timer_save"),
                       ("kvm:kvm_timer_restore_state", "timer_restore")):
        per_idx: Counter[int] = Counter()
        for e in _entries(run, event):
            per_idx[_int(e.keys, "timer_idx", 0)] += e.count
        c[key] = max(per_idx.values(), default=0)
    for e in _entries(run, "timer:hrtimer_expire_entry"):
        fn = e.keys.get("function", "")
        if fn in _VCPU_TIMER_FUNCS:
            c["timer_hrtimer_wakeups"] += e.count
        elif fn in _TICK_FUNCS:
            c["host_tick"] += e.count
    for e in _entries(run, "workqueue:workqueue_execute_start"):
        if e.keys.get("function", "") == "irqfd_inject":
            c["injections_workqueue"] += e.count
    for e in _entries(run, "irq:irq_handler_entry"):
        name = e.keys.get("name", "")
        if name == "vgic":
            c["maintenance_irqs"] += e.count
        elif name == "kvm guest vtimer":
            c["vtimer_host_irqs"] += e.count
        elif name == "kvm guest ptimer":
            c["ptimer_host_irqs"] += e.count
        elif name == "arch_timer":
            c["host_timer_irqs"] += e.count
    for e in _entries(run, "sched:sched_switch"):
        c["sched_switch"] += e.count
        if e.keys.get("next_comm", "").startswith("vcpu"):
            c["sched_in_vcpu"] += e.count
    before, after = parse_interrupts(run.irq_before), parse_interrupts(run.irq_after)
    for name, counts in after.items():
        delta = sum(counts) - sum(before.get(name, [0] * len(counts)))
        if name in _IPI_ROWS:
            c[_IPI_ROWS[name]] += delta
        elif name.endswith("interrupts") and not name.startswith("CPU stop"):
            c["ipi_other"] += delta
    # The guest's "done" write to the mailbox is the harness's, not the experiment's: one
    # MMIO exit to userspace per measured run (the baseline has none).  Leave it out.
    user_mmio = sum(e.count for e in _entries(run, "kvm:kvm_userspace_exit")
                    if _int(e.keys, "reason", 0) == 6 and vcpu_of(e) is not None)
    mailbox = 1 if run.kind == "run" and user_mmio else 0
    for key in ("exits_total", "exits.DABT_LOW", "entries"):
        c[key] = max(0, c[key] - mailbox)
    if per_vcpu:
        c["exits_total@vcpu0"] = max(0, c["exits_total@vcpu0"] - mailbox)
        c["exits.DABT_LOW@vcpu0"] = max(0, c["exits.DABT_LOW@vcpu0"] - mailbox)
    st = run.stats
    c["resamplefd_signals"] = st.get("vmm_resamplefd_reads", 0)
    c["eventfd_signals"] = st.get("vmm_irqfd_signals", 0) + st.get("vmm_resamplefd_reads", 0)
    c["vmm_reasserts"] = st.get("vmm_reasserts", 0)
    c["irq_line_calls"] = st.get("vmm_irq_line_calls", 0)
    c["host_irqs"] = (c["maintenance_irqs"] + c["vtimer_host_irqs"] + c["ptimer_host_irqs"]
                      + st.get("dev_requests", 0) + st.get("vmm_reasserts", 0))
    c.pop("ptimer_host_irqs", None)
    c["guest_spurious"] = sum(st.get(f"guest_spurious_{i}", 0) for i in range(run.vcpus))
    return {k: float(v) for k, v in c.items()}


@dataclass
class RepCounts:
    """One repetition: raw counts of the run and of its baseline, and the run's figures."""

    rep: int
    n: int
    run: dict[str, float]
    baseline: dict[str, float]
    elapsed_ns: int
    handled: int
    late_ticks_mean: float | None = None
    """vtimer: mean ns from the programmed expiry to the guest handler's entry."""
    dropped: int = 0
    roundtrip_ns: float | None = None
    """level-resample: mean ns from the VMM's irqfd write to its resamplefd being readable."""
    sgi_rtt_ns: float | None = None
    """sgi: mean ns from vCPU0's SGI to vCPU0 seeing vCPU1's handler done (micro-bench ipi)."""
    sources: tuple[RunOutput, RunOutput] | None = None
    """The parsed run and baseline (kept in the record, so it can be reduced again)."""

    def per_irq(self, key: str) -> float:
        return (self.run.get(key, 0.0) - self.baseline.get(key, 0.0)) / self.n

    def raw_per_irq(self, key: str) -> float:
        return self.run.get(key, 0.0) / self.n


@dataclass
class Reduced:
    """An experiment's repetitions and its per-interrupt table."""

    experiment: str
    n: int
    interval_us: int
    vcpus: int
    reps: list[RepCounts] = field(default_factory=list)

    def quantity_keys(self) -> list[str]:
        """Quantity keys in table order: the fixed ones, then dynamic ones (sorted)."""
        fixed = [q.key for q in QUANTITIES]
        extra = sorted({k for r in self.reps for k in (*r.run, *r.baseline)} - set(fixed))
        exits = [k for k in extra if k.startswith("exits.") and "@" not in k]
        rest = [k for k in extra if k not in exits]
        pos = fixed.index("exits.SYS64") + 1
        return fixed[:pos] + exits + fixed[pos:] + rest

    def per_irq(self, key: str) -> list[float]:
        return [r.per_irq(key) for r in self.reps]

    def mean(self, key: str) -> float:
        vals = self.per_irq(key)
        return statistics.fmean(vals) if vals else 0.0


def reduce_experiment(boot: BootOutput, experiment: str) -> Reduced:
    """Pair each measured run with its baseline and compute the counts."""
    runs = [r for r in boot.runs if r.experiment == experiment]
    if not runs:
        raise ProtocolError(f"the VMM reported no run of {experiment}")
    first = runs[0]
    out = Reduced(experiment, first.n, first.interval_us, first.vcpus)
    by_rep: dict[int, dict[str, RunOutput]] = {}
    for r in runs:
        if not r.complete:
            raise ProtocolError(f"{experiment} {r.kind} {r.rep} did not complete")
        by_rep.setdefault(r.rep, {})[r.kind] = r
    for rep in sorted(by_rep):
        pair = by_rep[rep]
        if "run" not in pair or "baseline" not in pair:
            raise ProtocolError(f"{experiment} repetition {rep} lacks its run or its baseline")
        run, base = pair["run"], pair["baseline"]
        handled_key = "guest_handled_1" if run.vcpus > 1 else "guest_handled_0"
        handled = run.stats.get(handled_key, 0)
        if handled != run.n:
            raise ProtocolError(f"{experiment} repetition {rep}: the guest handled {handled} of "
                                f"{run.n} interrupts")
        late = None
        freq = run.stats.get("guest_cntfrq", 0)
        if experiment.startswith("vtimer") and freq:
            late = run.stats.get("guest_late_ticks_sum", 0) / run.n * 1e9 / freq
        roundtrip = None
        if run.stats.get("vmm_roundtrip_ns_sum"):
            roundtrip = run.stats["vmm_roundtrip_ns_sum"] / run.n
        sgi_rtt = None
        if run.stats.get("guest_sgi_rtt_ticks_sum") and freq:
            sgi_rtt = run.stats["guest_sgi_rtt_ticks_sum"] / run.n * 1e9 / freq
        out.reps.append(RepCounts(rep, run.n, run_counts(run), run_counts(base),
                                  run.stats.get("elapsed_ns", 0), handled, late,
                                  sum(run.dropped.values()) + sum(base.dropped.values()),
                                  roundtrip, sgi_rtt, (run, base)))
    return out
