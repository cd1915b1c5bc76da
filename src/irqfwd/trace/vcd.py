"""Value Change Dump (IEEE 1364 §18) of the interrupt signals, for GTKWave or Surfer; written
with pyvcd as the run goes.  Timescale 1 ns; every signal starts at 0.

Scopes and signals:

* ``irqfwd.gic.spi``: one wire per device line, ``spi<intid>_<dev>`` (the level driven into
  the distributor: QEMU's ``gic_set_irq``);
* ``irqfwd.gic.cpu<n>``: the CPU interface outputs ``irq``, ``fiq``, ``virq``, ``vfiq``
  (``gic_update_set_irq``), the maintenance interrupt ``maintenance`` (PPI 25,
  ``gic_update_maintenance_irq``), the timer PPIs ``ppi<n>`` when a VM uses the timer, and
  ``lrs_in_use`` (list registers holding an interrupt at the last ``kvm_entry``, 0 after
  the exit saved them);
* ``irqfwd.kvm.vm<V>.vcpu<C>``: ``in_guest`` (1 from ``kvm_entry`` to ``kvm_exit``).

No date is written (``$date`` is fixed), so the same scenario and seed give the same file.
"""

from __future__ import annotations

from typing import Any

from vcd import VCDWriter

from irqfwd.trace.sink import TraceSink

__all__ = ["VcdTraceWriter"]


class VcdTraceWriter(TraceSink):
    """The VCD exporter (``--trace-format vcd``, ``.vcd``)."""

    format_name = "vcd"

    def begin(self) -> None:
        topo = self.topo
        head = " ".join(f"{k}={v}" for k, v in self.header.items())
        w = self._w = VCDWriter(self.out, timescale="1 ns", date="simulated time", comment=f"irqfwd {head}",
                                version="irqfwd")
        self._last: dict[Any, Any] = {}
        self._lines: dict[tuple[int, int], Any] = {}
        for d in topo.devices:
            self._lines[(d.intid, 0)] = w.register_var("irqfwd.gic.spi", f"spi{d.intid}_{d.name}", "wire", size=1, init=0)
        self._out: dict[tuple[int, str], Any] = {}
        self._maint: list[Any] = []
        self._lrs: list[Any] = []
        self._lr_values: list[dict[int, int]] = []
        for c in range(topo.pcpus):
            scope = f"irqfwd.gic.cpu{c}"
            for sig in ("irq", "fiq", "virq", "vfiq"):
                self._out[(c, sig)] = w.register_var(scope, sig, "wire", size=1, init=0)
            self._maint.append(w.register_var(scope, "maintenance", "wire", size=1, init=0))
            for ppi in topo.timer_ppis:
                self._lines[(ppi, c)] = w.register_var(scope, f"ppi{ppi}", "wire", size=1, init=0)
            self._lrs.append(w.register_var(scope, "lrs_in_use", "integer", size=8, init=0))
            self._lr_values.append({})
        self._guest: dict[tuple[int, int], Any] = {}
        for vm in topo.vms:
            for v in range(vm.vcpus):
                self._guest[(vm.index, v)] = w.register_var(f"irqfwd.kvm.vm{vm.index}.vcpu{v}", "in_guest", "wire",
                                                            size=1, init=0)
        self.changes = 0
        """Value changes written."""

    def _set(self, var: Any, t: int, value: int) -> None:
        if self._last.get(var.ident, 0) == value:
            return
        self._last[var.ident] = value
        self._w.change(var, t, value)
        self.changes += 1

    def write_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        self.received += 1
        f = fields
        if name == "gic_set_irq":
            intid = f["intid"]
            var = self._lines.get((intid, 0 if intid >= 32 else f["cpu"]))
            if var is not None:
                self._set(var, time_ns, int(f["level"]))
        elif name == "gic_update_set_irq":
            var = self._out.get((f["cpu"], f["signal"]))
            if var is not None:
                self._set(var, time_ns, int(f["level"]))
        elif name == "gic_update_maintenance_irq":
            cpu = f["cpu"]
            if 0 <= cpu < len(self._maint):
                self._set(self._maint[cpu], time_ns, int(f["level"]))
        elif name == "gic_lr_entry":
            cpu = f["cpu"]
            if 0 <= cpu < len(self._lr_values):
                self._lr_values[cpu][f["lr"]] = f["value"]
        elif name == "kvm_entry":
            var = self._guest.get((f["vm"], f["vcpu"]))
            if var is not None:
                self._set(var, time_ns, 1)
            cpu = f["cpu"]
            if 0 <= cpu < len(self._lrs):
                vals = self._lr_values[cpu]
                self._set(self._lrs[cpu], time_ns, sum(1 for v in vals.values() if (v >> 28) & 3))
                vals.clear()
        elif name == "kvm_exit":
            var = self._guest.get((f["vm"], f["vcpu"]))
            if var is not None:
                self._set(var, time_ns, 0)
            cpu = f["cpu"]
            if 0 <= cpu < len(self._lrs):
                self._set(self._lrs[cpu], time_ns, 0)

    def finish(self, end_ns: int) -> None:
        self._w.close(end_ns)
