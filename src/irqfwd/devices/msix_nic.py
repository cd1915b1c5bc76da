"""A multi-queue PCI NIC with MSI-X: one receive queue per vector (PCI Local Bus 3.0 §6.8.2).

* Each :class:`MsixQueue` has its own event stream (packets for that queue, from
  :func:`irqfwd.devices.traffic.arrivals`), a status register (``pending`` events) and an
  interrupt enable the guest driver controls (NAPI masks it while polling).
* The MSI-X table holds one (Message Address, Message Data, Mask) entry per vector,
  written by the host's MSI domain (:meth:`MsixNic.write_msix_entry`: for a GICv3 ITS the
  address of GITS_TRANSLATER and the EventID); MSI-X Enable in Message Control
  (:meth:`MsixNic.set_msix_enable`).  An event on a queue whose interrupt is enabled is an
  MSI: the device writes the vector's data to its address with its Requester ID as the
  DeviceID (:meth:`GicDevice.msi <irqfwd.hw.gic.device.SysRegGicDevice.msi>`).  While MSI-X
  is disabled or the vector masked, the vector's Pending Bit is set instead and the
  message goes out when it is enabled or unmasked.
* Every MSI emits ``irqfwd_device_irq_raise`` (``dev`` = the queue's name, ``intid`` = the
  host LPI of the vector, ``trigger`` = ``"edge"``, ``seq``) and counts
  ``device_irqs_raised``; :meth:`MsixQueue.handler_entry` records ``assert_to_guest_handler``
  from the oldest raise not yet served, as :class:`~irqfwd.devices.nic.Nic` does.
"""

from __future__ import annotations

from collections.abc import Iterator

from irqfwd.config import DeviceConfig
from irqfwd.devices.base import GuestDevice
from irqfwd.devices.events import DeviceIrqRaise
from irqfwd.hw.machine import Machine

__all__ = ["MsixNic", "MsixQueue"]


class MsixQueue(GuestDevice):
    """One queue of the NIC and its MSI-X vector (the interface of a guest driver's device)."""

    def __init__(self, nic: MsixNic, index: int) -> None:
        self.nic = nic
        self.index = index
        super().__init__(f"{nic.name}.q{index}")
        self.irq_enabled = True
        self.seq = 0
        self.events = 0
        self.events_handled = 0
        self.unserved: list[tuple[int, int]] = []
        self.intid = 0
        """The host LPI the vector is mapped to (for the trace)."""
        self._arrivals: Iterator[int] | None = None
        rec = nic.m.recorder
        self._ev_raise = rec.site(DeviceIrqRaise(dev=self.name, trigger="edge"))

    # ---------------------------------------------------------------- traffic
    def start(self, times: Iterator[int]) -> None:
        """Feed arrival times (absolute ns, non-decreasing)."""
        self._arrivals = times
        self._next_arrival()

    def stop(self) -> None:
        """No more arrivals (the device is being torn down)."""
        self._arrivals = iter(())

    def _next_arrival(self) -> None:
        assert self._arrivals is not None
        t = next(self._arrivals, None)
        if t is not None:
            eng = self.nic.m.engine
            eng.schedule(max(t - eng.now, 0), self._arrival)

    def _arrival(self) -> None:
        self.pending += 1
        self.events += 1
        if self.irq_enabled:
            self._raise()
        self._next_arrival()

    def _raise(self) -> None:
        nic = self.nic
        m = nic.m
        self.seq += 1
        self.unserved.append((self.seq, m.engine.now))
        nic._c_raised.n += 1
        ev = self._ev_raise
        if ev.live:
            ev.seq = self.seq
            ev.intid = self.intid
            ev.emit()
        nic.signal(self.index)

    # ---------------------------------------------------------------- driver side
    def handler_entry(self) -> int | None:
        """Guest handler entry: ``assert_to_guest_handler`` of the oldest unserved raise;
        returns the newest raise's ``seq`` (None when nothing was raised since)."""
        u = self.unserved
        if not u:
            return None
        m = self.nic.m
        m.recorder.latency("assert_to_guest_handler", m.engine.now - u[0][1])
        seq = u[-1][0]
        u.clear()
        return seq

    def ack(self) -> int:
        """Read and clear the queue's status (its received packets); returns how many."""
        n = self.pending
        self.pending = 0
        self.events_handled += n
        return n

    def poll(self, budget: int) -> int:
        """NAPI poll: consume up to ``budget`` events; returns how many."""
        n = min(self.pending, budget)
        self.pending -= n
        self.events_handled += n
        return n

    def set_irq_enabled(self, on: bool) -> None:
        """The queue's interrupt enable; re-enabling with events left raises at once."""
        self.irq_enabled = on
        if on and self.pending:
            self._raise()


class MsixNic:
    """A PCI NIC with ``cfg.queues`` queues and as many MSI-X vectors."""

    def __init__(self, machine: Machine, cfg: DeviceConfig, requester_id: int) -> None:
        self.m = machine
        self.cfg = cfg
        self.name = cfg.name
        self.requester_id = requester_id
        """PCI Requester ID (bus/device/function), the DeviceID the ITS sees."""
        self.queues = [MsixQueue(self, i) for i in range(cfg.queues)]
        self.table: list[list[int]] = [[0, 0, 1] for _ in range(cfg.queues)]
        """MSI-X table: [Message Address, Message Data, Mask] per vector (masked at reset)."""
        self.pba = [False] * cfg.queues
        """Pending Bit Array."""
        self.msix_enabled = False
        self.msi_writes = 0
        self._c_raised = machine.recorder.counter("device_irqs_raised")
        self._c_msi = machine.recorder.counter("msi_writes")

    def write_msix_entry(self, vector: int, address: int, data: int, masked: bool) -> None:
        """The host writes one MSI-X table entry (then unmasks it)."""
        e = self.table[vector]
        e[0] = address
        e[1] = data
        self.set_vector_mask(vector, masked)

    def set_vector_mask(self, vector: int, masked: bool) -> None:
        """Vector Control.Mask; unmasking sends a pending message."""
        self.table[vector][2] = 1 if masked else 0
        if not masked and self.pba[vector] and self.msix_enabled:
            self.pba[vector] = False
            self._write_msi(vector)

    def set_msix_enable(self, on: bool) -> None:
        """Message Control.MSI-X Enable; enabling sends the pending messages."""
        self.msix_enabled = on
        if on:
            for v in range(len(self.table)):
                if self.pba[v] and not self.table[v][2]:
                    self.pba[v] = False
                    self._write_msi(v)

    def signal(self, vector: int) -> None:
        """The queue has an interrupt to send: a message, or its Pending Bit."""
        if not self.msix_enabled or self.table[vector][2]:
            self.pba[vector] = True
            return
        self._write_msi(vector)

    def _write_msi(self, vector: int) -> None:
        """The posted memory write of the vector's data to its address (GITS_TRANSLATER)."""
        self.msi_writes += 1
        self._c_msi.n += 1
        gic = self.m.gic
        msi = getattr(gic, "msi", None)
        if msi is not None:
            msi(self.requester_id, self.table[vector][1])
