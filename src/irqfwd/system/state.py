"""``irqfwd state``: the interrupt state of a run at a simulated instant.

:func:`state_at` builds the system, starts the devices as :func:`irqfwd.system.run.run_scenario`
does and runs the engine up to ``at_ns``, then prints:

* per VM, KVM's debugfs ``vgic-state`` dump (``vgic-debug.c``: one row per interrupt,
  ``TYP ID TGT_ID PLAEHCG HWID TARGET SRC PRI VCPU_ID``; :func:`~irqfwd.host.kvm.vgic.vgic_debug_state`);
* per pCPU, the virtual interface as the hardware holds it: the vCPU loaded, GICH_HCR,
  GICH_MISR, GICH_ELRSR and every GICH_LRn decoded (IHI 0048B §5.3.9: State, HW, Grp1,
  Priority, pINTID, vINTID, EOI);
* the physical distributor state (GICD) of the interrupts in use: device SPIs, the
  maintenance PPI and the timer PPI per CPU (enabled, pending, active, line level, edge,
  priority; the CPU interface outputs per pCPU).

Reads only (``is_pending``, ``read_lr``...): taking the snapshot changes nothing.
"""

from __future__ import annotations

from irqfwd.config import ScenarioConfig
from irqfwd.devices.traffic import arrivals
from irqfwd.host.kvm.vgic import vgic_debug_state
from irqfwd.hw.timer import PPI_VTIMER
from irqfwd.sim.costs import CostProfile
from irqfwd.system.build import System, build_system
from irqfwd.system.teardown import TEARDOWN_WINDOW_NS

__all__ = ["decode_lr", "run_until", "state_at", "state_text"]

_STATES = ("invalid", "pending", "active", "pending+active")


def decode_lr(value: int) -> str:
    """GICH_LRn fields (IHI 0048B §5.3.9) as text."""
    hw = value >> 31 & 1
    state = _STATES[value >> 28 & 3]
    grp1 = value >> 30 & 1
    prio = (value >> 23 & 0x1F) << 3
    vid = value & 0x3FF
    if hw:
        extra = f"pINTID {value >> 10 & 0x3FF}"
    else:
        extra = f"EOI {value >> 19 & 1} CPUID {value >> 10 & 7}"
    return f"{value:#010x}  {state:<14} HW {hw} Grp1 {grp1} prio {prio:3d} vINTID {vid:4d} {extra}"


def run_until(config: ScenarioConfig, design: str, at_ns: int, *, seed: int | None = None,
              costs: CostProfile | None = None) -> System:
    """Build ``config`` under ``design`` and run it up to ``at_ns`` (before any teardown)."""
    system = build_system(config, design, seed=seed, costs=costs)
    end = config.duration_ns
    for w in system.devices:
        w.nic.start(arrivals(w.cfg.traffic, system.engine.rng, 0, end + TEARDOWN_WINDOW_NS))
    system.host.sched.start_migration()
    system.machine.run(at_ns)
    return system


def state_text(system: System) -> str:
    """The snapshot of ``system`` now (see the module docstring)."""
    gic = system.gic
    out: list[str] = [f"# irqfwd state: scenario={system.config.name} design={system.design.name} "
                      f"seed={system.engine.seed} at {system.engine.now} ns\n"]
    for kvm in system.vms:
        out.append(f"## VM {kvm.index} ({kvm.name}): vgic-state\n")
        out.append(vgic_debug_state(kvm))
    out.append("## list registers (GICH) per pCPU\n")
    curr = system.host.sched.curr
    for c, hyp in enumerate(gic.hyp):
        task = curr[c] if c < len(curr) else None
        loaded = getattr(task, "name", None) or "idle"
        out.append(f"pCPU {c}: {loaded}, mode {'guest' if system.machine.pcpus[c].mode else 'host'}; "
                   f"GICH_HCR {hyp.read_hcr():#010x} GICH_MISR {hyp.read_misr():#x} "
                   f"GICH_ELRSR {hyp.read_elrsr():#x}")
        for n in range(hyp.num_lrs):
            out.append(f"  LR{n}: {decode_lr(hyp.read_lr(n))}")
    out.append("")
    out.append("## distributor (GICD) and CPU interface outputs\n")
    out.append("   ID  CPU  ENABLED PENDING ACTIVE LINE EDGE PRI  USE")
    dist = gic.dist
    rows: list[tuple[int, int, str]] = [(w.cfg.host_intid, 0, w.cfg.name) for w in system.devices]
    for c in range(gic.num_cpus):
        rows.append((gic.config.maintenance_intid, c, "maintenance"))
        if system.vtimer is not None:
            rows.append((PPI_VTIMER, c, "vtimer"))
    for intid, c, use in rows:
        out.append(f" {intid:4d}  {c:3d}  {int(dist.is_enabled(intid, c)):7d} {int(dist.is_pending(intid, c)):7d} "
                   f"{int(dist.is_active(intid, c)):6d} {int(dist.line_level(intid, c)):4d} "
                   f"{int(dist.is_edge(intid, c)):4d} {dist.priority(intid, c):3d}  {use}")
    out.append("")
    for c, o in enumerate(gic.outputs):
        out.append(f"pCPU {c} outputs: irq {int(o.irq)} fiq {int(o.fiq)} virq {int(o.virq)} vfiq {int(o.vfiq)}")
    return "\n".join(out) + "\n"


def state_at(config: ScenarioConfig, design: str, at_ns: int, *, seed: int | None = None,
             costs: CostProfile | None = None) -> str:
    """:func:`state_text` after running ``config`` under ``design`` up to ``at_ns``."""
    return state_text(run_until(config, design, at_ns, seed=seed, costs=costs))
