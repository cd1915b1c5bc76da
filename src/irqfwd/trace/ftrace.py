"""ftrace text in the ``trace-cmd report`` layout, streamed.

One line per event::

    TASK-PID [CPU] SECONDS.NANOSECONDS: EVENT: FIELDS

* ``TASK-PID``: the thread current on the executing pCPU: a vCPU thread is named as QEMU
  names it, ``CPU <n>/KVM``, with pid ``1000 * (vm + 1) + n``; an idle pCPU is
  ``<idle>-0``; work the model runs off any pCPU (devices, the workqueue, timers) is
  ``<...>-0`` on the CPU its fields name (else CPU 0).
* Timestamps are simulated time, in seconds with nine decimals (``trace-cmd report -t``).
* Fields: the kernel's ``TP_printk`` text for the kernel tracepoints irqfwd mirrors
  (``kvm_exit``, ``kvm_set_irq``, ``vgic_update_irq_pending``, ``kvm_ack_irq``,
  ``kvm_timer_*``, ``irq_handler_entry``/``exit``, ``kvm_mmio``) and QEMU's trace-event
  text for the GIC (``gic_set_irq``, ``gic_update_set_irq``, ``gic_lr_entry``,
  ``gic_update_maintenance_irq``), followed by the fields irqfwd adds (``vm=``, ``cpu=``);
  irqfwd's own events (``irqfwd_*``) as ``key=value`` pairs.  No value depends on the host,
  so two runs of the same scenario and seed give the same bytes (``diff`` them).

The header starts with ``# tracer: nop`` (the ftrace text header, which Perfetto's
importer recognises) and names the scenario, design and seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from irqfwd.trace.sink import TraceSink, fmt_value, kv_text

__all__ = ["FtraceWriter", "format_fields", "vcpu_pid"]

# KVM arm64 exit reasons → (kvm_arm_exception_type, ESR_ELx.EC, kvm_arm_exception_class name)
_EXIT: Final[dict[str, tuple[str, int, str]]] = {
    "IRQ": ("IRQ", 0x00, "UNKNOWN"),
    "WFx": ("TRAP", 0x01, "WFx"),
    "HVC": ("TRAP", 0x16, "HVC64"),
    "SYS64": ("TRAP", 0x18, "SYS64"),
    "DABT_LOW": ("TRAP", 0x24, "DABT_LOW"),
}


def vcpu_pid(vm: int, vcpu: int) -> int:
    """The pid the text trace gives the thread of vCPU ``vcpu`` of VM ``vm``."""
    return 1000 * (vm + 1) + vcpu


def _rest(f: dict[str, Any], *used: str) -> str:
    extra = " ".join(f"{k}={fmt_value(k, v)}" for k, v in f.items() if k not in used)
    return " " + extra if extra else ""


def _kvm_exit(f: dict[str, Any]) -> str:
    kind, ec, cls = _EXIT.get(f["reason"], ("TRAP", 0, str(f["reason"])))
    return f"{kind}: HSR_EC: {ec:#06x} ({cls}),{_rest(f, 'reason')}"


def _mmio(f: dict[str, Any]) -> str:
    op = "write" if f.get("write") else "read"
    return f"mmio {op} len {f.get('size')} offset {f.get('offset', 0):#x} val {f.get('value', 0):#x}" + _rest(
        f, "write", "size", "offset", "value")


_FORMATS: Final[dict[str, Callable[[dict[str, Any]], str]]] = {
    "kvm_exit": _kvm_exit,
    "kvm_set_irq": lambda f: f"gsi {f['gsi']} level {int(f['level'])} source {f['source']}" + _rest(
        f, "gsi", "level", "source"),
    "vgic_update_irq_pending": lambda f: f"VCPU: {f['vcpu']}, IRQ {f['intid']}, level: {int(f['level'])}" + _rest(
        f, "vcpu", "intid", "level"),
    "kvm_ack_irq": lambda f: f"irqchip {f['irqchip']} pin {f['pin']}" + _rest(f, "irqchip", "pin"),
    "kvm_timer_update_irq": lambda f: f"VCPU: {f['vcpu']}, IRQ {f['intid']}, level {int(f['level'])}" + _rest(
        f, "vcpu", "intid", "level"),
    "kvm_timer_save_state": lambda f: f"CTL: {f['ctl']:#010x} CVAL: {f['cval']:#18x} arch_timer_ctx_index: 0" + _rest(
        f, "ctl", "cval"),
    "kvm_timer_restore_state": lambda f: f"CTL: {f['ctl']:#010x} CVAL: {f['cval']:#18x} arch_timer_ctx_index: 0"
    + _rest(f, "ctl", "cval"),
    "hrtimer_expire_entry": lambda f: f"function={f['function']}" + _rest(f, "function"),
    "kvm_mmio": _mmio,
    "irq_handler_entry": lambda f: f"irq={f['intid']} name={fmt_value('name', f['name'])}" + _rest(f, "intid", "name"),
    "irq_handler_exit": lambda f: f"irq={f['intid']} ret={f['ret']}" + _rest(f, "intid", "ret"),
    "gic_set_irq": lambda f: f"irq {f['intid']} level {f['level']}" + _rest(f, "intid", "level"),
    "gic_update_set_irq": lambda f: f"cpu[{f['cpu']}]: {f['signal']} = {f['level']}",
    "gic_update_maintenance_irq": lambda f: f"cpu {f['cpu']} maintenance = {f['level']}",
    "gic_lr_entry": lambda f: f"cpu {f['cpu']}: new lr entry {f['lr']}: {f['value']:#010x}" + _rest(
        f, "cpu", "lr", "value"),
}


def format_fields(name: str, fields: dict[str, Any]) -> str:
    """The FIELDS column of event ``name`` (see the module docstring)."""
    fmt = _FORMATS.get(name)
    return kv_text(fields) if fmt is None else fmt(fields)


class FtraceWriter(TraceSink):
    """The ``trace-cmd report`` text exporter (``--trace-format ftrace``, ``.txt``)."""

    format_name = "ftrace"

    def begin(self) -> None:
        h = self.header
        head = " ".join(f"{k}={v}" for k, v in h.items())
        self.out.write(
            "# tracer: nop\n"
            f"# irqfwd {head}\n"
            f"# cpus={self.topo.pcpus}\n"
            "#\n"
            "#            TASK-PID   CPU#     TIMESTAMP  FUNCTION\n"
            "#               | |       |         |         |\n"
        )

    def write_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        self.received += 1
        topo = self.topo
        cpu = topo.current_cpu()
        if cpu >= 0:
            task = topo.current_task(cpu)
            if task is None:
                comm, pid = "<idle>", 0
            else:
                comm, pid = f"CPU {task[1]}/KVM", vcpu_pid(task[0], task[1])
        else:
            c = fields.get("cpu")
            cpu = c if isinstance(c, int) and not isinstance(c, bool) and c >= 0 else 0
            comm, pid = "<...>", 0
        fmt = _FORMATS.get(name)
        text = kv_text(fields) if fmt is None else fmt(fields)
        self.out.write(
            f"{comm:>16}-{pid:<6}[{cpu:03d}] {time_ns // 1_000_000_000:5d}.{time_ns % 1_000_000_000:09d}: "
            f"{name + ':':<27} {text}\n"
        )
