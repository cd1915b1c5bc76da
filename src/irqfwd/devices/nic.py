"""A pass-through NIC: an interrupt line on a host SPI, a status register, moderation, NAPI.

* Events (packets) arrive at the times of :func:`irqfwd.devices.traffic.arrivals`; each
  sets a status bit (``pending`` events).
* The interrupt output is ``pending > 0 and irq_enabled`` (interrupt mask register):
  **level** devices hold the SPI high (``GICv2.set_line``) while that is true; **edge**
  devices pulse it (1 then 0) once per raise.  Each raise emits ``irqfwd_device_irq_raise``
  (``dev``, ``intid``, ``trigger``, ``seq``) and counts ``device_irqs_raised``; a level
  de-assertion emits ``irqfwd_device_irq_lower``.
* Interrupt moderation (``coalesce_ns``): at most one raise per ``coalesce_ns``; events
  arriving in between are signalled by a raise at the end of the window.
* The guest driver reaches the status register through a pass-through MMIO mapping (no
  exit, ``guest_mmio_ack_ns``): :meth:`Nic.ack` (read + clear all events),
  :meth:`Nic.poll` (NAPI: consume up to ``budget`` events), :meth:`Nic.set_irq_enabled`.
* Latency: :meth:`Nic.handler_entry` (called by the guest at handler entry) records
  ``assert_to_guest_handler`` from the oldest raise not yet served.
* :meth:`Nic.withdraw`: the device drops its pending events by itself (a reset, a timeout);
  a level line goes low before any driver served it (``device_irq_withdraw``): those raises
  need no handler any more (an edge already latched in the GIC is still owed one).
"""

from __future__ import annotations

from collections.abc import Iterator

from irqfwd.config import DeviceConfig
from irqfwd.hw.machine import Machine

__all__ = ["Nic"]


class Nic:
    """One NIC with one interrupt line."""

    def __init__(self, machine: Machine, cfg: DeviceConfig) -> None:
        self.m = machine
        self.cfg = cfg
        self.name = cfg.name
        self.intid = cfg.host_intid
        self.level = cfg.trigger == "level"
        self.trigger = cfg.trigger
        self.coalesce_ns = cfg.coalesce_ns
        self.pending = 0
        self.irq_enabled = True
        self.line = False
        self.seq = 0
        self.events = 0
        self.events_handled = 0
        self.unserved: list[tuple[int, int]] = []
        self._last_raise = -(1 << 62)
        self._coalesce_armed = False
        self._arrivals: Iterator[int] | None = None
        rec = machine.recorder
        self._ev_raise = rec.event("irqfwd_device_irq_raise", dev=self.name, intid=self.intid,
                                   trigger=self.trigger, seq=0)
        self._ev_lower = rec.event("irqfwd_device_irq_lower", dev=self.name, intid=self.intid)
        self._ev_withdraw = rec.event("irqfwd_device_irq_withdraw", dev=self.name, intid=self.intid)
        self._c_raised = rec.counter("device_irqs_raised")

    # ---------------------------------------------------------------- traffic
    def start(self, times: Iterator[int]) -> None:
        """Feed arrival times (absolute ns, non-decreasing)."""
        self._arrivals = times
        self._next_arrival()

    def _next_arrival(self) -> None:
        assert self._arrivals is not None
        t = next(self._arrivals, None)
        if t is not None:
            eng = self.m.engine
            eng.schedule(max(t - eng.now, 0), self._arrival)

    def _arrival(self) -> None:
        self.pending += 1
        self.events += 1
        self._maybe_raise()
        self._next_arrival()

    # ---------------------------------------------------------------- interrupt output
    def _maybe_raise(self) -> None:
        if not self.irq_enabled or not self.pending:
            return
        if self.level and self.line:
            return
        if self.coalesce_ns:
            now = self.m.engine.now
            due = self._last_raise + self.coalesce_ns
            if now < due:
                if not self._coalesce_armed:
                    self._coalesce_armed = True
                    self.m.engine.at(due, self._coalesce_fire)
                return
        self._raise()

    def _coalesce_fire(self) -> None:
        self._coalesce_armed = False
        self._maybe_raise()

    def _raise(self) -> None:
        m = self.m
        now = m.engine.now
        self.seq += 1
        self._last_raise = now
        self.unserved.append((self.seq, now))
        self._c_raised.n += 1
        ev = self._ev_raise
        if ev.live:
            ev.fields["seq"] = self.seq
            ev.emit()
        m.note_assert(self.intid)
        if self.level:
            self.line = True
            m.gic.set_line(self.intid, True)
        else:
            m.gic.set_line(self.intid, True)
            m.gic.set_line(self.intid, False)

    def _lower(self) -> None:
        if self.level and self.line:
            self.line = False
            self.m.gic.set_line(self.intid, False)
            if self._ev_lower.live:
                self._ev_lower.emit()

    # ---------------------------------------------------------------- driver side
    def handler_entry(self) -> int | None:
        """Guest handler entry: ``assert_to_guest_handler`` of the oldest unserved raise.

        Returns the ``seq`` of the *newest* raise this invocation serves (it drains the
        ring, covering every earlier raise too), or None when nothing was raised since the
        last entry.
        """
        u = self.unserved
        if not u:
            return None
        t = u[0][1]
        seq = u[-1][0]
        self.m.recorder.latency("assert_to_guest_handler", self.m.engine.now - t)
        u.clear()
        return seq

    def ack(self) -> int:
        """Read and clear the status register (write-1-to-clear); returns events consumed."""
        n = self.pending
        self.pending = 0
        self.events_handled += n
        self._lower()
        return n

    def poll(self, budget: int) -> int:
        """NAPI poll: consume up to ``budget`` events; returns how many."""
        n = min(self.pending, budget)
        self.pending -= n
        self.events_handled += n
        if not self.pending:
            self._lower()
        return n

    def withdraw(self) -> None:
        """The device clears its pending events by itself; a level device's raises not yet
        served are withdrawn with its line (``device_irq_withdraw``)."""
        self.pending = 0
        if self.level:
            self.unserved.clear()
            if self._ev_withdraw.live:
                self._ev_withdraw.emit()
        self._lower()

    def set_irq_enabled(self, on: bool) -> None:
        """Interrupt mask register: disabling lowers a level line; enabling may raise."""
        self.irq_enabled = on
        if on:
            self._maybe_raise()
        else:
            self._lower()
