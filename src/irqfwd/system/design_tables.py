"""The per-interrupt tables of ``docs/designs.md``: every default design on ``nic-level``,
an idle and a busy guest, the current and the 5.8 kernel profile.

``python -m irqfwd.system.design_tables`` prints them; ``tests/system/test_design_docs.py``
checks that the document holds exactly what this prints.
"""

from __future__ import annotations

from irqfwd.scenarios.builtin import apply_overrides, get_scenario
from irqfwd.system.run import DEFAULT_COMPARE_DESIGNS, HOST_CPU_CATEGORIES, run_scenario

__all__ = ["CASES", "design_tables"]

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


def design_tables() -> str:
    """The four tables as Markdown."""
    out: list[str] = []
    for title, _anchor, sets in CASES:
        out.append(f"**{title}**\n")
        out.append(_HEADER)
        out.extend(_row(d, sets) for d in DEFAULT_COMPARE_DESIGNS)
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(design_tables(), end="")
