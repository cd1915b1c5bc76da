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
* Registers (a BAR of :data:`BAR_SIZE`): :data:`NIC_STATUS` (read: the events pending,
  cleared by the read) and :data:`NIC_IRQ_ENABLE` (write 1/0); :meth:`Nic.mmio_read` /
  :meth:`Nic.mmio_write` serve them for a VMM that traps the BAR.
* A PCI device (``DeviceConfig.bus = "pci"``) has the INTx bits of its configuration space
  (PCI 3.0 §6.2.2): ``PCI_COMMAND.INTX_DISABLE`` gates the line (the device keeps
  requesting, ``PCI_STATUS.INTERRUPT`` shows it, the pin is de-asserted), which is how
  ``pci_check_and_mask_intx`` masks it without touching the interrupt controller.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from irqfwd.config import DeviceConfig
from irqfwd.devices.base import GuestDevice
from irqfwd.devices.events import DeviceIrqLower, DeviceIrqRaise, DeviceIrqWithdraw
from irqfwd.devices.traffic import ArrivalMux, ArrivalSource, as_source
from irqfwd.hw.machine import Machine

__all__ = ["BAR_SIZE", "NIC_IRQ_ENABLE", "NIC_STATUS", "PCI_COMMAND", "PCI_COMMAND_INTX_DISABLE",
           "PCI_STATUS", "PCI_STATUS_INTERRUPT", "Nic"]

BAR_SIZE: Final = 0x1000
NIC_STATUS: Final = 0x0
"""Read: the number of events pending; the read clears them (the handler's ack)."""
NIC_IRQ_ENABLE: Final = 0x4
"""Write 1 / 0: the device's interrupt mask register."""
PCI_COMMAND: Final = 0x04
PCI_COMMAND_INTX_DISABLE: Final = 1 << 10
PCI_STATUS: Final = 0x06
PCI_STATUS_INTERRUPT: Final = 1 << 3


class Nic(GuestDevice):
    """One NIC with one interrupt line."""

    def __init__(self, machine: Machine, cfg: DeviceConfig) -> None:
        self.m = machine
        self.cfg = cfg
        super().__init__(cfg.name)
        self.intid = cfg.host_intid
        self.level = cfg.trigger == "level"
        self.trigger = cfg.trigger
        self.coalesce_ns = cfg.coalesce_ns
        self.irq_enabled = True
        self.pci = cfg.bus == "pci"
        self.asserted = False
        """The device requests an interrupt (a level device between raise and lower)."""
        self.intx_disable = False
        """``PCI_COMMAND.INTX_DISABLE`` (PCI devices): the pin stays low while set."""
        self.line = False
        """The pin as the interrupt controller sees it."""
        self.seq = 0
        self.events = 0
        self.events_handled = 0
        self.oldest_unserved = -1
        """Time of the oldest raise no handler run has served yet (-1: none); the newest is
        :attr:`seq` (a handler run serves every raise so far: the driver drains the ring)."""
        self._last_raise = -(1 << 62)
        self._coalesce_armed = False
        self._arrivals: ArrivalSource | None = None
        self._mux: ArrivalMux | None = None
        self._slot = 0
        rec = machine.recorder
        self._ev_raise = rec.site(DeviceIrqRaise(dev=self.name, intid=self.intid, trigger=self.trigger))
        self._ev_lower = rec.site(DeviceIrqLower(dev=self.name, intid=self.intid))
        self._ev_withdraw = rec.site(DeviceIrqWithdraw(dev=self.name, intid=self.intid))
        self._c_raised = rec.counter("device_irqs_raised")
        self._lat_handler = rec.latency_site("assert_to_guest_handler")

    # ---------------------------------------------------------------- traffic
    def start(self, times: Iterable[int], mux: ArrivalMux | None = None) -> None:
        """Feed arrival times (absolute ns, non-decreasing), through ``mux`` when the
        devices of a system share one (:class:`~irqfwd.devices.traffic.ArrivalMux`)."""
        self._arrivals = as_source(times)
        self._mux = mux = mux or ArrivalMux(self.m.engine)
        self._slot = mux.add(self._arrival)
        self._next_arrival()

    def _next_arrival(self) -> None:
        assert self._arrivals is not None and self._mux is not None
        t = self._arrivals.next_time()
        if t >= 0:
            self._mux.push(self._slot, t)

    def stop(self) -> None:
        """No more arrivals (the VM is torn down)."""
        self._arrivals = as_source(())

    def _arrival(self) -> None:
        self.pending += 1
        self.events += 1
        self._maybe_raise()
        self._next_arrival()

    # ---------------------------------------------------------------- interrupt output
    def _maybe_raise(self) -> None:
        if not self.irq_enabled or not self.pending:
            return
        if self.level and self.asserted:
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
        if self.oldest_unserved < 0:
            self.oldest_unserved = now
        self._c_raised.n += 1
        ev = self._ev_raise
        if ev.live:
            ev.seq = self.seq
            ev.emit()
        m.note_assert(self.intid)
        if self.level:
            self.asserted = True
            self._drive()
        else:
            m.gic.set_line(self.intid, True)
            m.gic.set_line(self.intid, False)

    def _lower(self) -> None:
        if self.level and self.asserted:
            self.asserted = False
            self._drive()
            if self._ev_lower.live:
                self._ev_lower.emit()

    def _drive(self) -> None:
        """Drive the pin: the request, gated by INTX_DISABLE."""
        line = self.asserted and not self.intx_disable
        if line != self.line:
            self.line = line
            self.m.gic.set_line(self.intid, line)

    # ---------------------------------------------------------------- registers
    def mmio_read(self, offset: int) -> int:
        """A read of the BAR: :data:`NIC_STATUS` acknowledges (read-to-clear)."""
        if offset == NIC_STATUS:
            return self.ack()
        if offset == NIC_IRQ_ENABLE:
            return int(self.irq_enabled)
        return 0

    def mmio_write(self, offset: int, value: int) -> None:
        """A write to the BAR: :data:`NIC_IRQ_ENABLE`."""
        if offset == NIC_IRQ_ENABLE:
            self.set_irq_enabled(bool(value & 1))

    def config_read(self, offset: int) -> int:
        """A 32-bit read of the configuration space: the dword at ``PCI_COMMAND`` holds
        ``PCI_STATUS`` in its upper half (only the INTx bits are modelled)."""
        if not self.pci or offset != PCI_COMMAND:
            return 0
        cmd = PCI_COMMAND_INTX_DISABLE if self.intx_disable else 0
        status = PCI_STATUS_INTERRUPT if self.asserted else 0
        return cmd | status << 16

    def config_write(self, offset: int, value: int) -> None:
        """A 16-bit write of ``PCI_COMMAND``: INTX_DISABLE gates the pin at once."""
        if self.pci and offset == PCI_COMMAND:
            self.intx_disable = bool(value & PCI_COMMAND_INTX_DISABLE)
            self._drive()

    # ---------------------------------------------------------------- driver side
    def handler_entry(self) -> int | None:
        """Guest handler entry: ``assert_to_guest_handler`` of the oldest unserved raise.

        Returns the ``seq`` of the *newest* raise this invocation serves (it drains the
        ring, covering every earlier raise too), or None when nothing was raised since the
        last entry.
        """
        t = self.oldest_unserved
        if t < 0:
            return None
        self.oldest_unserved = -1
        self._lat_handler.add(self.m.engine.now - t)
        return self.seq

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
            self.oldest_unserved = -1
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
