"""The Arm Generic Timer of one system: the system counter and each PE's timers.

Arm ARM (DDI 0487) chapter D11/D12 "The Generic Timer in AArch64 state":

* The **system counter** (``CNTPCT_EL0``) counts up at ``CNTFRQ_EL0`` Hz.  Here it is
  derived from engine time with integer arithmetic only:
  ``count(t) = (start + t * freq // 10**9) mod 2**64``, so the same run always reads the
  same counts.
* Each PE has (among others) three timers that this model implements:

  ===========  ============================  ==========================  =====
  timer        registers                     counter compared with CVAL  PPI
  ===========  ============================  ==========================  =====
  virtual      ``CNTV_CTL/CVAL/TVAL_EL0``    ``CNTPCT - CNTVOFF_EL2``    27
  EL1 physical ``CNTP_CTL/CVAL/TVAL_EL0``    ``CNTPCT``                  30
  EL2 physical ``CNTHP_CTL/CVAL/TVAL_EL2``   ``CNTPCT``                  26
  ===========  ============================  ==========================  =====

* ``CTL``: bit 0 ``ENABLE``, bit 1 ``IMASK``, bit 2 ``ISTATUS`` (read-only).  ``ISTATUS``
  is the timer condition ``UInt(count) >= UInt(CVAL)`` (unsigned 64-bit compare, Arm ARM
  "Operation of the CompareValue views of the timers"), reported regardless of ``IMASK``.
  The timer's interrupt output is asserted iff ``ENABLE && ISTATUS && !IMASK``.  When
  ``ENABLE`` is 0 the architecture makes ``ISTATUS`` UNKNOWN; like QEMU (``gt_recalc_timer``)
  this model reads it as 0.
* ``TVAL`` is a signed 32-bit view: a read returns ``(CVAL - count)[31:0]`` sign-extended,
  a write sets ``CVAL = count + SignExtend(TVAL[31:0])``.

The outputs are level signals wired to the GIC as PPIs of their PE
(``gic.set_line(ppi, level, cpu)``).  An output changes exactly at the engine instant at
which the counter reaches ``CVAL``: each timer keeps one engine event scheduled for its
next condition change, rescheduled on every register write.  The only condition change
that is *not* scheduled unless it is near (within :data:`WRAP_HORIZON_NS`) is the 64-bit
count wrapping back below ``CVAL``; register reads always evaluate the condition afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from irqfwd.hw.gic.device import GicDevice
from irqfwd.sim.engine import URGENT, Engine, Handle

__all__ = [
    "CTL_ENABLE",
    "CTL_IMASK",
    "CTL_ISTATUS",
    "DEFAULT_FREQ_HZ",
    "PPI_HYP_PTIMER",
    "PPI_PTIMER",
    "PPI_VTIMER",
    "WRAP_HORIZON_NS",
    "ArchTimers",
    "GenericTimer",
    "SystemCounter",
    "TimerChannel",
    "u64",
]

CTL_ENABLE: Final = 1 << 0
"""CNTx_CTL.ENABLE."""
CTL_IMASK: Final = 1 << 1
"""CNTx_CTL.IMASK: masks the output, not the condition."""
CTL_ISTATUS: Final = 1 << 2
"""CNTx_CTL.ISTATUS (read-only): the timer condition is met."""
_CTL_WRITABLE: Final = CTL_ENABLE | CTL_IMASK

PPI_VTIMER: Final = 27
"""Virtual timer PPI (SBSA / Linux default ``arch_timer`` DT binding)."""
PPI_PTIMER: Final = 30
"""EL1 physical timer PPI."""
PPI_HYP_PTIMER: Final = 26
"""EL2 (hypervisor) physical timer PPI."""

DEFAULT_FREQ_HZ: Final = 25_000_000
"""CNTFRQ_EL0 of the default system: 25 MHz as on Ampere Altra (assumption, not measured here)."""

WRAP_HORIZON_NS: Final = 1_000_000_000
"""A count wrap-around that ends a met condition is scheduled only if it is this close."""

_MASK64: Final = (1 << 64) - 1


def u64(value: int) -> int:
    """``value`` as a 64-bit register holds it: masked only when outside [0, 2**64) (a mask
    with the big-int constant is a long-int operation in the compiled build, every time)."""
    return value & _MASK64 if value >> 64 else value
_NS_PER_S: Final = 1_000_000_000


def _sext32(value: int) -> int:
    """Sign-extend bits [31:0] of ``value``."""
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value & 0x8000_0000 else value


class SystemCounter:
    """The system counter: ``CNTPCT`` as a pure function of engine time (Arm ARM D11.1.2).

    ``start`` is the count at engine time 0 (lets tests reach the 64-bit wrap).
    """

    __slots__ = ("engine", "freq_hz", "start")

    def __init__(self, engine: Engine, freq_hz: int = DEFAULT_FREQ_HZ, start: int = 0) -> None:
        if not 1 <= freq_hz <= _NS_PER_S:
            raise ValueError(f"counter frequency {freq_hz} Hz out of range 1..1e9")
        self.engine = engine
        self.freq_hz = freq_hz
        self.start = start & _MASK64

    def unwrapped_at(self, t_ns: int) -> int:
        """Count at time ``t_ns`` without the 64-bit wrap (for scheduling)."""
        return self.start + t_ns * self.freq_hz // _NS_PER_S

    def count(self) -> int:
        """CNTPCT_EL0 now."""
        u = self.unwrapped_at(self.engine.now)
        return u64(u)

    def time_of(self, unwrapped: int) -> int:
        """Earliest engine time (ns) at which the unwrapped count is ``>= unwrapped``."""
        ticks = unwrapped - self.start
        if ticks <= 0:
            return 0
        return -((-ticks * _NS_PER_S) // self.freq_hz)

    def ns_to_ticks(self, ns: int) -> int:
        """Counter ticks in ``ns`` nanoseconds (rounded down)."""
        return ns * self.freq_hz // _NS_PER_S


@dataclass
class _Wiring:
    """Where a timer's output goes."""

    sink: GicDevice | None
    cpu: int
    observers: list[Callable[[str, int, bool], None]]


class TimerChannel:
    """One timer (virtual, EL1 physical or EL2 physical) of one PE."""

    __slots__ = ("_event", "_fire_cb", "_wiring", "counter", "ctl", "cval", "name", "offset", "output", "ppi")

    def __init__(self, name: str, ppi: int, counter: SystemCounter, wiring: _Wiring) -> None:
        self.name = name
        self.ppi = ppi
        self.counter = counter
        self.offset = 0
        """Subtracted from CNTPCT: CNTVOFF_EL2 for the virtual timer (set by
        :meth:`GenericTimer.write_cntvoff`), 0 for the physical ones."""
        self._wiring = wiring
        self._fire_cb = self._fire
        self.ctl = 0
        """Stored ENABLE/IMASK bits (ISTATUS is computed)."""
        self.cval = 0
        self.output = False
        """Current level of the interrupt output."""
        self._event: Handle | None = None

    # --- architectural views -------------------------------------------------------
    def count(self) -> int:
        """The count this timer compares with CVAL (CNTVCT for the virtual timer)."""
        c = self.counter.count() - self.offset
        return c if c >= 0 else c & _MASK64

    def condition_met(self) -> bool:
        """The timer condition ``UInt(count) >= UInt(CVAL)`` (independent of ENABLE/IMASK)."""
        return self.count() >= self.cval

    def istatus(self) -> bool:
        """CTL.ISTATUS: condition met while enabled (0 while disabled, as QEMU)."""
        return bool(self.ctl & CTL_ENABLE) and self.condition_met()

    def asserted(self) -> bool:
        """The output level: ``ENABLE && ISTATUS && !IMASK``."""
        return self._output(self.count() if self.ctl & CTL_ENABLE else 0)

    def _output(self, count: int) -> bool:
        """The output level for ``count`` (read only when ENABLE is set)."""
        ctl = self.ctl
        return ctl & CTL_ENABLE != 0 and count >= self.cval and not ctl & CTL_IMASK

    def read_ctl(self) -> int:
        """CNTx_CTL read."""
        return self.ctl | (CTL_ISTATUS if self.istatus() else 0)

    def write_ctl(self, value: int) -> None:
        """CNTx_CTL write (ISTATUS is read-only, other bits RES0)."""
        self.ctl = value & _CTL_WRITABLE
        self.update()

    def read_cval(self) -> int:
        """CNTx_CVAL read."""
        return self.cval

    def write_cval(self, value: int) -> None:
        """CNTx_CVAL write."""
        self.cval = u64(value)
        self.update()

    def read_tval(self) -> int:
        """CNTx_TVAL read: ``(CVAL - count)[31:0]`` as a signed 32-bit value."""
        return _sext32(self.cval - self.count())

    def write_tval(self, value: int) -> None:
        """CNTx_TVAL write: ``CVAL = count + SignExtend(value[31:0])``."""
        self.cval = u64(self.count() + _sext32(value))
        self.update()

    # --- output and scheduling ------------------------------------------------------
    def update(self) -> None:
        """Re-evaluate the output (:meth:`asserted`), drive the PPI on a change, reschedule
        the next change (the count is read once)."""
        counter = self.counter
        engine = counter.engine
        if self._event is not None:
            engine.cancel(self._event)
            self._event = None
        enabled = self.ctl & CTL_ENABLE != 0
        count = self.count() if enabled else 0
        level = self._output(count)
        if level != self.output:
            self.output = level
            w = self._wiring
            if w.sink is not None:
                w.sink.set_line(self.ppi, level, w.cpu)
            for fn in w.observers:
                fn(self.name, w.cpu, level)
        if not enabled:
            return
        now_unwrapped = counter.unwrapped_at(engine.now)
        if count < self.cval:
            when = counter.time_of(now_unwrapped + (self.cval - count))
        else:
            when = counter.time_of(now_unwrapped + ((1 << 64) - count))
            if when - engine.now > WRAP_HORIZON_NS:
                return
        self._event = engine.at(max(when, engine.now), self._fire_cb, priority=URGENT)

    def _fire(self) -> None:
        self._event = None
        self.update()

    def next_change_ns(self) -> int | None:
        """Engine time of the next scheduled condition change, or None."""
        return None if self._event is None else self._event.time


_SYSREGS_CHANNEL = {
    "CNTV": "virt",
    "CNTP": "phys",
    "CNTHP": "hyp",
}


class GenericTimer:
    """The Generic Timer registers of one PE (physical CPU ``cpu``).

    ``read_sysreg``/``write_sysreg`` take the Arm register names: ``CNTFRQ_EL0``,
    ``CNTPCT_EL0``, ``CNTVCT_EL0``, ``CNTVOFF_EL2``, and ``CNT{V,P}_{CTL,CVAL,TVAL}_EL0``,
    ``CNTHP_{CTL,CVAL,TVAL}_EL2``.
    """

    __slots__ = ("_wiring", "cntvoff", "counter", "cpu", "hyp", "phys", "virt")

    def __init__(self, counter: SystemCounter, cpu: int, sink: GicDevice | None = None) -> None:
        self.counter = counter
        self.cpu = cpu
        self.cntvoff = 0
        """CNTVOFF_EL2."""
        self._wiring = _Wiring(sink, cpu, [])
        self.virt = TimerChannel("virt", PPI_VTIMER, counter, self._wiring)
        self.phys = TimerChannel("phys", PPI_PTIMER, counter, self._wiring)
        self.hyp = TimerChannel("hyp", PPI_HYP_PTIMER, counter, self._wiring)

    def channels(self) -> tuple[TimerChannel, TimerChannel, TimerChannel]:
        """The virtual, EL1 physical and EL2 physical timers."""
        return (self.virt, self.phys, self.hyp)

    def add_observer(self, fn: Callable[[str, int, bool], None]) -> None:
        """Call ``fn(timer_name, cpu, level)`` on every output change (after the GIC input)."""
        self._wiring.observers.append(fn)

    def write_cntvoff(self, value: int) -> None:
        """CNTVOFF_EL2 write: moves the virtual count, so the virtual timer is re-evaluated."""
        self.cntvoff = u64(value)
        self.virt.offset = self.cntvoff
        self.virt.update()

    def _channel(self, name: str) -> tuple[TimerChannel, str]:
        prefix, _, rest = name.partition("_")
        chan = _SYSREGS_CHANNEL.get(prefix)
        field, _, el = rest.partition("_")
        want_el = "EL2" if prefix == "CNTHP" else "EL0"
        if chan is None or el != want_el or field not in ("CTL", "CVAL", "TVAL"):
            raise ValueError(f"unknown generic timer register {name!r}")
        timer: TimerChannel = getattr(self, chan)
        return timer, field

    def read_sysreg(self, name: str) -> int:
        """MRS of a Generic Timer register by its Arm name."""
        if name == "CNTFRQ_EL0":
            return self.counter.freq_hz
        if name == "CNTPCT_EL0":
            return self.counter.count()
        if name == "CNTVCT_EL0":
            return self.virt.count()
        if name == "CNTVOFF_EL2":
            return self.cntvoff
        timer, field = self._channel(name)
        if field == "CTL":
            return timer.read_ctl()
        if field == "CVAL":
            return timer.read_cval()
        return timer.read_tval() & 0xFFFF_FFFF

    def write_sysreg(self, name: str, value: int) -> None:
        """MSR of a Generic Timer register by its Arm name (counters are read-only)."""
        if name == "CNTVOFF_EL2":
            self.write_cntvoff(value)
            return
        if name in ("CNTFRQ_EL0", "CNTPCT_EL0", "CNTVCT_EL0"):
            raise ValueError(f"{name} is read-only in this model")
        timer, field = self._channel(name)
        if field == "CTL":
            timer.write_ctl(value)
        elif field == "CVAL":
            timer.write_cval(value)
        else:
            timer.write_tval(value)


class ArchTimers:
    """The Generic Timer of a whole system: one counter, one :class:`GenericTimer` per CPU.

    ``sink`` (normally the :class:`~irqfwd.hw.gicv2.gic.GICv2`) receives every output change
    as ``sink.set_line(ppi, level, cpu)``.
    """

    __slots__ = ("counter", "cpus")

    def __init__(
        self,
        engine: Engine,
        num_cpus: int,
        sink: GicDevice | None = None,
        freq_hz: int = DEFAULT_FREQ_HZ,
        start_count: int = 0,
    ) -> None:
        self.counter = SystemCounter(engine, freq_hz, start_count)
        self.cpus = [GenericTimer(self.counter, cpu, sink) for cpu in range(num_cpus)]

    def __getitem__(self, cpu: int) -> GenericTimer:
        return self.cpus[cpu]

    def __len__(self) -> int:
        return len(self.cpus)
