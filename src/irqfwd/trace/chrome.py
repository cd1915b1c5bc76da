"""Chrome Trace Event JSON for Perfetto (ui.perfetto.dev) and ``chrome://tracing``, streamed.

The file is ``{"displayTimeUnit": "ns", "otherData": {...}, "traceEvents": [...]}`` with
``ts``/``dur`` in microseconds (fractions keep the nanoseconds).  Tracks (``pid``/``tid``):

* process 1 ``host``: one thread per physical CPU, ``pCPU n``, with slices
  ``vm<V>/vcpu<C>`` (guest mode, ``kvm_entry`` → ``kvm_exit``), ``exit <REASON>`` (world
  switch out, ``handle_exit`` and world switch in, ``kvm_exit`` → the next ``kvm_entry``
  or ``irqfwd_vcpu_put``) and ``IRQ <intid> <name>`` (the host handler,
  ``irq_handler_entry`` → ``irq_handler_exit``); counters ``irq pCPU n``, ``virq pCPU n``
  (the GIC's outputs), ``maintenance pCPU n`` and ``LRs in use pCPU n`` (list registers
  holding an interrupt at the last ``kvm_entry``, 0 after the exit saved them);
* process ``10 + V`` ``vm V (name)``: per vCPU a thread ``vCPU n`` (``guest on pCPU p`` and
  ``exit <REASON>`` slices) and a thread ``vCPU n IRQs`` (``vINTID <n> (<dev>)`` slices:
  the guest handler, from ``irqfwd_guest_irq_handled`` or ``irqfwd_guest_timer_irq`` to
  the ``irqfwd_guest_deactivate`` of that vINTID);
* process 2 ``devices``: one thread per device with ``asserted`` slices (level: raise →
  lower) or ``edge`` slices, and a ``line <dev>`` counter;
* process 3 ``off-CPU``: events of work the model runs on no pCPU (workqueue, timers).

Every event is also an instant (``ph: i``) on its track, its fields as ``args`` (hover in
Perfetto).  Flow arrows (``ph: s/t/f``) join each device assertion to the host handler
that took it and to the guest handler run that served it (``irqfwd_guest_irq_handled``
``seq`` ≥ the raise's ``seq``).  Perfetto reads JSON slices per thread as a stack, so
each track's slices are kept properly nested (an inner slice still open when its parent
ends is closed with it).
"""

from __future__ import annotations

import json
from typing import Any, Final

from irqfwd.trace.sink import TraceSink

__all__ = ["ChromeTraceWriter"]

HOST_PID: Final = 1
DEVICES_PID: Final = 2
OFFCPU_PID: Final = 3
VM_PID_BASE: Final = 10

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def _us(ns: int) -> float | int:
    return ns // 1000 if ns % 1000 == 0 else ns / 1000


class ChromeTraceWriter(TraceSink):
    """The Perfetto / Chrome JSON exporter (``--trace-format json``, ``.json``)."""

    format_name = "json"

    def begin(self) -> None:
        topo = self.topo
        self._n = 0
        self._stacks: dict[tuple[int, int], list[list[Any]]] = {}
        self._dev_tid = {d.name: i + 1 for i, d in enumerate(topo.devices)}
        self._dev_by_intid = {d.intid: d.name for d in topo.devices}
        self._dev_index = {d.name: i for i, d in enumerate(topo.devices)}
        self._flows: dict[str, list[list[int]]] = {d.name: [] for d in topo.devices}  # [seq, id, stepped]
        self._lrs: list[dict[int, int]] = [{} for _ in range(topo.pcpus)]
        self._lr_shown = [0] * topo.pcpus
        self._counters: dict[tuple[int, str], int] = {}
        other = {"source": "irqfwd", **{k: v for k, v in self.header.items()}}
        self.out.write('{"displayTimeUnit":"ns","otherData":' + _dumps(other) + ',"traceEvents":[\n')
        meta: list[dict[str, Any]] = []

        def proc(pid: int, name: str, sort: int) -> None:
            meta.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": name}})
            meta.append({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0, "args": {"sort_index": sort}})

        def thread(pid: int, tid: int, name: str) -> None:
            meta.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": name}})
            meta.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": tid}})

        proc(HOST_PID, "host", 0)
        for c in range(topo.pcpus):
            thread(HOST_PID, 1 + c, f"pCPU {c}")
        for vm in topo.vms:
            pid = VM_PID_BASE + vm.index
            proc(pid, f"vm {vm.index} ({vm.name})", 10 + vm.index)
            for v in range(vm.vcpus):
                thread(pid, 1 + 2 * v, f"vCPU {v}")
                thread(pid, 2 + 2 * v, f"vCPU {v} IRQs")
        proc(DEVICES_PID, "devices", 1)
        for d in topo.devices:
            thread(DEVICES_PID, self._dev_tid[d.name], f"{d.name} (SPI {d.intid}, {d.trigger})")
        proc(OFFCPU_PID, "off-CPU work", 2)
        thread(OFFCPU_PID, 1, "workqueue / timers")
        for m in meta:
            self._put(m)

    # ------------------------------------------------------------------ output
    def _put(self, ev: dict[str, Any]) -> None:
        self.out.write((",\n" if self._n else "") + _dumps(ev))
        self._n += 1

    def _open(self, track: tuple[int, int], kind: Any, name: str, t: int, args: dict[str, Any] | None = None) -> None:
        self._stacks.setdefault(track, []).append([kind, name, t, args])

    def _close(self, track: tuple[int, int], kind: Any, t: int) -> bool:
        """Close the innermost open slice of ``kind`` on ``track`` (and any inside it)."""
        st = self._stacks.get(track)
        if not st:
            return False
        for i in range(len(st) - 1, -1, -1):
            if st[i][0] == kind:
                while len(st) > i:
                    self._emit_slice(track, st.pop(), t)
                return True
        return False

    def _emit_slice(self, track: tuple[int, int], s: list[Any], t: int) -> None:
        _kind, name, start, args = s
        ev: dict[str, Any] = {"ph": "X", "name": name, "cat": "irqfwd", "pid": track[0], "tid": track[1],
                              "ts": _us(start), "dur": _us(t - start)}
        if args:
            ev["args"] = args
        self._put(ev)

    def _counter(self, pid: int, name: str, t: int, value: int) -> None:
        key = (pid, name)
        if self._counters.get(key) == value:
            return
        self._counters[key] = value
        self._put({"ph": "C", "name": name, "pid": pid, "tid": 0, "ts": _us(t), "args": {"value": value}})

    def _flow(self, ph: str, fid: int, track: tuple[int, int], t: int) -> None:
        ev: dict[str, Any] = {"ph": ph, "name": "interrupt", "cat": "flow", "id": fid, "pid": track[0],
                              "tid": track[1], "ts": _us(t)}
        if ph == "f":
            ev["bp"] = "e"
        self._put(ev)

    # ------------------------------------------------------------------ events
    def _track(self, fields: dict[str, Any]) -> tuple[int, int]:
        vm = fields.get("vm")
        vcpu = fields.get("vcpu")
        if isinstance(vm, int) and isinstance(vcpu, int):
            return (VM_PID_BASE + vm, 1 + 2 * vcpu)
        dev = fields.get("dev")
        if isinstance(dev, str) and dev in self._dev_tid:
            return (DEVICES_PID, self._dev_tid[dev])
        cpu = fields.get("cpu")
        if not isinstance(cpu, int) or isinstance(cpu, bool) or cpu < 0:
            cpu = self.topo.current_cpu()
        if 0 <= cpu < self.topo.pcpus:
            return (HOST_PID, 1 + cpu)
        return (OFFCPU_PID, 1)

    def write_event(self, name: str, time_ns: int, fields: dict[str, Any]) -> None:
        self.received += 1
        t = time_ns
        f = fields
        if name == "kvm_entry":
            pc, vt = (HOST_PID, 1 + f["cpu"]), (VM_PID_BASE + f["vm"], 1 + 2 * f["vcpu"])
            self._close(pc, "exit", t)
            self._close(vt, "exit", t)
            self._open(pc, "guest", f"vm{f['vm']}/vcpu{f['vcpu']}", t)
            self._open(vt, "guest", f"guest on pCPU {f['cpu']}", t)
            cpu = f["cpu"]
            if 0 <= cpu < len(self._lrs):
                n = sum(1 for v in self._lrs[cpu].values() if (v >> 28) & 3)
                self._lrs[cpu].clear()
                self._counter(HOST_PID, f"LRs in use pCPU {cpu}", t, n)
        elif name == "kvm_exit":
            pc, vt = (HOST_PID, 1 + f["cpu"]), (VM_PID_BASE + f["vm"], 1 + 2 * f["vcpu"])
            self._close(pc, "guest", t)
            self._close(vt, "guest", t)
            self._open(pc, "exit", f"exit {f['reason']}", t, {"reason": f["reason"]})
            self._open(vt, "exit", f"exit {f['reason']}", t, {"reason": f["reason"]})
            self._counter(HOST_PID, f"LRs in use pCPU {f['cpu']}", t, 0)
        elif name == "irqfwd_vcpu_put":
            self._close((HOST_PID, 1 + f["cpu"]), "exit", t)
            self._close((VM_PID_BASE + f["vm"], 1 + 2 * f["vcpu"]), "exit", t)
        elif name == "gic_lr_entry":
            cpu = f["cpu"]
            if 0 <= cpu < len(self._lrs):
                self._lrs[cpu][f["lr"]] = f["value"]
        elif name == "irq_handler_entry":
            pc = (HOST_PID, 1 + f["cpu"])
            self._open(pc, "irq", f"IRQ {f['intid']} {f['name']}".rstrip(), t, {"intid": f["intid"]})
            dev = self._dev_by_intid.get(f["intid"])
            if dev is not None:
                for fl in self._flows[dev]:
                    if not fl[2]:
                        fl[2] = 1
                        self._flow("t", fl[1], pc, t)
        elif name == "irq_handler_exit":
            self._close((HOST_PID, 1 + f["cpu"]), "irq", t)
        elif name in ("irqfwd_guest_irq_handled", "irqfwd_guest_timer_irq"):
            vintid = f.get("vintid", self.topo.timer_ppis[0] if self.topo.timer_ppis else 27)
            dev = f.get("dev") or "vtimer"
            track = (VM_PID_BASE + f["vm"], 2 + 2 * f["vcpu"])
            self._open(track, ("virq", vintid), f"vINTID {vintid} ({dev})", t, {"vintid": vintid, "dev": dev})
            if name == "irqfwd_guest_irq_handled" and f.get("seq") is not None and dev in self._flows:
                pending = self._flows[dev]
                keep = []
                for fl in pending:
                    if fl[0] <= f["seq"]:
                        self._flow("f", fl[1], track, t)
                    else:
                        keep.append(fl)
                self._flows[dev] = keep
        elif name == "irqfwd_guest_deactivate":
            self._close((VM_PID_BASE + f["vm"], 2 + 2 * f["vcpu"]), ("virq", f["vintid"]), t)
        elif name == "irqfwd_device_irq_raise":
            dev = f["dev"]
            tid = self._dev_tid.get(dev)
            if tid is not None:
                track = (DEVICES_PID, tid)
                if f["trigger"] == "level":
                    if not self._stacks.get(track):
                        self._open(track, "line", "asserted", t, {"seq": f["seq"]})
                    self._counter(DEVICES_PID, f"line {dev}", t, 1)
                else:
                    self._put({"ph": "X", "name": "edge", "cat": "irqfwd", "pid": DEVICES_PID, "tid": tid,
                               "ts": _us(t), "dur": 0, "args": {"seq": f["seq"]}})
                fid = ((self._dev_index[dev] + 1) << 32) | f["seq"]
                self._flows[dev].append([f["seq"], fid, 0])
                self._flow("s", fid, track, t)
        elif name == "irqfwd_device_irq_lower":
            tid = self._dev_tid.get(f["dev"])
            if tid is not None:
                self._close((DEVICES_PID, tid), "line", t)
                self._counter(DEVICES_PID, f"line {f['dev']}", t, 0)
        elif name == "gic_update_set_irq":
            if f["signal"] in ("irq", "virq"):
                self._counter(HOST_PID, f"{f['signal']} pCPU {f['cpu']}", t, f["level"])
        elif name == "gic_update_maintenance_irq":
            self._counter(HOST_PID, f"maintenance pCPU {f['cpu']}", t, f["level"])
        track = self._track(f)
        self._put({"ph": "i", "s": "t", "name": name, "cat": "event", "pid": track[0], "tid": track[1],
                   "ts": _us(t), "args": dict(f)})

    def finish(self, end_ns: int) -> None:
        for track in sorted(self._stacks):
            st = self._stacks[track]
            while st:
                self._emit_slice(track, st.pop(), end_ns)
        self.out.write("\n]}\n")
