"""The per-interrupt tables of ``docs/designs.md``: every default design on ``nic-level``,
an idle and a busy guest, the current and the 5.8 kernel profile; and the GICv3/v4
designs on their scenarios (:data:`GICV3_CASES`).

``python -m irqfwd.system.design_tables`` prints them; ``tests/system/test_design_docs.py``
checks that the document holds exactly what this prints.
"""

from __future__ import annotations

from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.run import DEFAULT_COMPARE_DESIGNS, HOST_CPU_CATEGORIES, run_scenario, with_gic

__all__ = ["CASES", "GICV3_CASES", "design_tables"]

CASES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("idle guest (WFI between interrupts), current kernel", "idle-current", ()),
    ("busy guest (computing between interrupts), current kernel", "busy-current", ("guest.busy=true",)),
    ("idle guest, kernel 5.8", "idle-5.8", ("host.kernel=5.8",)),
    ("busy guest, kernel 5.8", "busy-5.8", ("guest.busy=true", "host.kernel=5.8")),
)
"""(title, anchor, ``--set`` overrides) of each table."""

_HEADER = ("| design | exits | IRQ | WFx | DABT | maint. | host IRQs | switches | kworker | "
           "host CPU µs | assert→handler p50 µs |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def _row(design: str, sets: tuple[str, ...]) -> str:
    cfg = apply_overrides(get_scenario("nic-level"), list(sets))
    r = run_scenario(cfg, design)
    c = r.recorder.counters
    n = c["guest_irqs_handled"]
    ticks = c.get("host_ticks", 0)
    rows = r.system.machine.cpu_time() if r.system is not None else []
    host_ns = sum(row[k] for row in rows for k in HOST_CPU_CATEGORIES)
    p50 = r.recorder.latencies["assert_to_guest_handler"].percentile(50)

    def per(v: float) -> str:
        return f"{v / n:.2f}"

    return (f"| `{design}` | {per(c['exits_total'])} | {per(c.get('exit:IRQ', 0))} | "
            f"{per(c.get('exit:WFx', 0))} | {per(c.get('exit:DABT_LOW', 0))} | "
            f"{per(c['maintenance_irqs'])} | {per(c['host_irqs'] - ticks)} | "
            f"{per(c.get('sched_switch', 0))} | {per(c.get('kworker_items', 0))} | "
            f"{host_ns / n / 1000:.2f} | {p50 / 1000:.2f} |")


GICV3_CASES: tuple[tuple[str, str | None, str], ...] = (
    ("nic-level", "v3", "irqfd-resample"),
    ("nic-level", "v3", "forwarded"),
    ("msix-nic", None, "its-emulated"),
    ("msix-nic", None, "gicv4-direct"),
    ("msix-blocked", None, "its-emulated"),
    ("msix-blocked", None, "gicv4-direct"),
    ("ipi-vsgi", None, "gicv4-direct"),
    ("ipi-vsgi", None, "gicv41-vsgi"),
)
"""(scenario, ``--gic`` or None for the scenario's own, design) of the GICv3/v4 table."""

_HEADER_V3 = ("| scenario | GIC | design | exits | IRQ | WFx | SYS64 | maint. | host IRQs | "
              "doorbells | eventfd | host CPU µs | assert→handler p50 µs |\n"
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def _row_v3(scenario: str, gic: str | None, design: str) -> str:
    cfg = get_scenario(scenario)
    if gic is not None:
        cfg = with_gic(cfg, gic)
    r = run_scenario(cfg, design)
    c = r.recorder.counters
    n = c["guest_irqs_handled"]
    rows = r.system.machine.cpu_time() if r.system is not None else []
    host_ns = sum(row[k] for row in rows for k in HOST_CPU_CATEGORIES)
    p50 = r.recorder.latencies["assert_to_guest_handler"].percentile(50)

    def per(key: str) -> str:
        return f"{c.get(key, 0) / n:.2f}"

    host_irqs = (c.get("host_irqs", 0) - c.get("host_ticks", 0)) / n

    return (f"| `{scenario}` | {cfg.gic} | `{design}` | {per('exits_total')} | {per('exit:IRQ')} | "
            f"{per('exit:WFx')} | {per('exit:SYS64')} | {per('maintenance_irqs')} | "
            f"{host_irqs:.2f} | "
            f"{per('gicv4_doorbells')} | {per('eventfd_signals')} | "
            f"{host_ns / n / 1000:.2f} | {p50 / 1000:.2f} |")


def design_tables() -> str:
    """The four GICv2 tables and the GICv3/v4 table as Markdown."""
    out: list[str] = []
    for title, _anchor, sets in CASES:
        out.append(f"**{title}**\n")
        out.append(_HEADER)
        out.extend(_row(d, sets) for d in DEFAULT_COMPARE_DESIGNS)
        out.append("")
    out.append("**GICv3 and GICv4: the designs on their scenarios, current kernel** "
               "(the boot's exits and mappings included)\n")
    out.append(_HEADER_V3)
    out.extend(_row_v3(s, g, d) for s, g, d in GICV3_CASES)
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(design_tables(), end="")
