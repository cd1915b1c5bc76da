"""Table-driven register decode for every GIC frame (GICv2: GICD, GICC, GICH, GICV).

A block declares its registers as a tuple of :class:`Reg` entries that reads like the
register map of Arm IHI 0048B (§4.1.2 GICD, §4.1.3 GICC, §5.3 GICH, §5.5 GICV)::

    Reg("GICD_ISENABLER", 0x100, bits_per_irq=1, read="read_enable", write="write_senable")

and hands the table to :class:`RegisterBlock` together with the object that implements the
handlers (the *owner*).  The block resolves every handler once, at construction, into a
word-offset → entry dictionary, so an access costs one dict lookup (O(1)) and one call.

Handler contract (the same for every block)
-------------------------------------------

* ``read(n, cpu) -> int`` returns the whole 32-bit word ``n`` of the register (``n`` is
  the word index inside the register: 0 for a one-word register, ``INTID * bits // 32``
  for a bits-per-interrupt register).
* ``write(n, value, mask, cpu) -> None`` receives the value already shifted to its byte
  lane and ``mask`` = the byte lanes being written (``0xFFFFFFFF`` for a word access,
  ``0xFF << 8*k`` for a byte access to byte *k*).  Write-1-to-set/clear handlers can
  simply use ``value`` (bits outside the lane are 0); read-write handlers of
  byte-accessible registers (IPRIORITYR, ITARGETSR) update only the lanes in ``mask``.
* ``cpu`` is the accessing CPU interface (banked registers use it; others ignore it).

Handlers are named by string: a method of the owner, or one of the shared handlers
:data:`SHARED_HANDLERS` (``read_raz``, ``read_rao``, ``read_reset``, ``write_wi``).

Access rules (the choices for what the architecture leaves UNPREDICTABLE)
------------------------------------------------------------------------

* GICv2 §4.1.4: every GICD/GICC register is word-accessible; IPRIORITYR, ITARGETSR,
  CPENDSGIR and SPENDSGIR are also byte-accessible.  A ``Reg`` lists its legal ``sizes``.
* An access of a size the register does not allow, or a misaligned access (offset not a
  multiple of the size), is UNPREDICTABLE in the architecture; this model treats it as
  **RAZ/WI** (reads return 0, writes are ignored) and counts it in
  :attr:`RegisterBlock.bad_accesses`.
* Reserved offsets, and words of a bits-per-interrupt register that lie beyond the
  implemented interrupts (GICD_TYPER.ITLinesNumber), are **RAZ/WI** as GICv2 §4.3.2
  requires ("registers for unimplemented interrupts are RAZ/WI").
* Sizes other than 1, 2 or 4 bytes (8 bytes in a block with 64-bit registers) and offsets
  outside the frame are programming errors of the caller and raise :class:`ValueError`.

64-bit registers (GICv3: GICD_IROUTER<n>, GICR_TYPER, GICR_PROPBASER, GITS_BASER<n>, ...)
----------------------------------------------------------------------------------------

A ``Reg`` with ``width=64`` declares 64-bit registers (``length`` bytes, 8 per element).
Its handlers are ``read(n, cpu) -> int`` (the whole 64-bit element ``n``) and
``write(n, value, mask, cpu)`` with ``value`` and ``mask`` 64 bits wide (``mask`` =
``0xFFFFFFFF`` for a write of the low word, ``0xFFFFFFFF << 32`` for the high word,
all ones for a 64-bit write).  IHI 0069H §12.1.3: a 64-bit register can be accessed as a
whole (``size=8``, 8-byte aligned) or as two 32-bit halves; a 64-bit access to anything
else is treated like any other illegal access (RAZ/WI, counted).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "SHARED_HANDLERS",
    "ReadFn",
    "Reg",
    "RegisterBlock",
    "WriteFn",
    "read_raz",
    "write_wi",
]

ReadFn = Callable[[int, int], int]
"""``read(n, cpu) -> word``."""
WriteFn = Callable[[int, int, int, int], None]
"""``write(n, value, mask, cpu)``."""

_SIZE_BITS = {1: 0b001, 2: 0b010, 4: 0b100}
_LANE_MASK = (0, 0xFF, 0xFFFF, 0, 0xFFFF_FFFF)
_MASK64 = 0xFFFF_FFFF_FFFF_FFFF


def read_raz(n: int, cpu: int) -> int:
    """Shared handler: read as zero."""
    return 0


def read_rao(n: int, cpu: int) -> int:
    """Shared handler: read as all ones (32 bits)."""
    return 0xFFFF_FFFF


def write_wi(n: int, value: int, mask: int, cpu: int) -> None:
    """Shared handler: write ignored."""


SHARED_HANDLERS: dict[str, Callable[..., int | None]] = {
    "read_raz": read_raz,
    "read_rao": read_rao,
    "write_wi": write_wi,
}
"""Handlers any table may name.  ``read_reset`` (the entry's reset value, for constant
identification registers) is also accepted; it is bound per entry."""


@dataclass(frozen=True, slots=True)
class Reg:
    """One register (or register array) of a frame.

    Either ``length`` (bytes, fixed) or ``bits_per_irq`` (the register array spans
    ``1024 * bits_per_irq / 8`` bytes of address space, of which the words covering the
    implemented INTIDs are decoded; the rest is RAZ/WI).
    """

    name: str
    """Architectural name without the index, e.g. ``GICD_ISENABLER``."""
    offset: int
    length: int = 4
    bits_per_irq: int = 0
    sizes: tuple[int, ...] = (4,)
    """Legal access sizes in bytes."""
    reset: int = 0
    """Reset value of each word (documentation; ``read_reset`` returns it)."""
    read: str = "read_raz"
    write: str = "write_wi"
    doc: str = ""
    plain: bool = False
    """A single-word register whose handlers are the block's own accessors,
    ``read() -> int`` and ``write(value) -> None`` (e.g. ``read_pmr``/``write_pmr``), so no
    ``(n, cpu)`` adapter is needed.  Shared handlers and ``read_reset`` keep their form."""
    width: int = 32
    """32, or 64 for 64-bit registers (see the module docstring)."""

    def span(self) -> int:
        """Bytes of address space the entry covers."""
        if self.bits_per_irq:
            return 1024 * self.bits_per_irq // 8
        return self.length

    def implemented_words(self, num_irqs: int) -> int:
        """Words decoded for a GIC with ``num_irqs`` INTIDs."""
        if self.bits_per_irq:
            return min(num_irqs * self.bits_per_irq // 32, self.span() // 4)
        return max(1, self.length // 4)


class RegisterBlock:
    """Offset → handler decode for one frame, built once from a :class:`Reg` table.

    ``any_size=True`` accepts 1-, 2- and 4-byte (aligned) accesses to every register, the
    narrow ones reaching the handler as byte lanes (QEMU's GICD, ``QemuQuirks`` X1); the
    handlers of read-write registers must then honour ``mask``.
    """

    __slots__ = ("_map", "_map64", "_offsets", "_regs", "bad_accesses", "name", "size")

    def __init__(
        self,
        name: str,
        size: int,
        regs: Iterable[Reg],
        owner: object,
        num_irqs: int = 1024,
        any_size: bool = False,
    ) -> None:
        self.name = name
        self.size = size
        self.bad_accesses = 0
        self._regs: tuple[Reg, ...] = tuple(sorted(regs, key=lambda r: r.offset))
        self._offsets = [r.offset for r in self._regs]
        # word offset -> (read, write, n, allowed-size bits)
        self._map: dict[int, tuple[ReadFn, WriteFn, int, int]] = {}
        self._map64: dict[int, tuple[ReadFn, WriteFn, int]] = {}
        end = -1
        for reg in self._regs:
            if reg.offset < end:
                raise ValueError(f"{name}: {reg.name} at {reg.offset:#x} overlaps the previous register")
            if reg.offset % 4 or reg.offset + reg.span() > size:
                raise ValueError(f"{name}: {reg.name} at {reg.offset:#x} is misplaced")
            end = reg.offset + reg.span()
            rd = self._resolve(owner, reg, reg.read, write=False)
            wr = self._resolve(owner, reg, reg.write, write=True)
            if reg.width == 64:
                self._add64(reg, rd, wr)  # type: ignore[arg-type]
                continue
            allowed = 0b111 if any_size else 0
            for s in reg.sizes:
                allowed |= _SIZE_BITS[s]
            for n in range(reg.implemented_words(num_irqs)):
                self._map[reg.offset + 4 * n] = (rd, wr, n, allowed)  # type: ignore[assignment]

    def _add64(self, reg: Reg, rd: ReadFn, wr: WriteFn) -> None:
        """Decode the elements of a 64-bit register: whole (8 bytes) and as 32-bit halves."""
        if reg.offset % 8 or reg.length % 8 or reg.bits_per_irq:
            raise ValueError(f"{self.name}: 64-bit {reg.name} must be 8-byte aligned and sized")

        def lo_read(n: int, cpu: int) -> int:
            return rd(n, cpu) & 0xFFFF_FFFF

        def hi_read(n: int, cpu: int) -> int:
            return rd(n, cpu) >> 32

        def lo_write(n: int, value: int, mask: int, cpu: int) -> None:
            wr(n, value, mask, cpu)

        def hi_write(n: int, value: int, mask: int, cpu: int) -> None:
            wr(n, value << 32, mask << 32, cpu)

        for n in range(reg.length // 8):
            off = reg.offset + 8 * n
            self._map64[off] = (rd, wr, n)
            self._map[off] = (lo_read, lo_write, n, 0b100)
            self._map[off + 4] = (hi_read, hi_write, n, 0b100)

    @staticmethod
    def _resolve(owner: object, reg: Reg, name: str, write: bool) -> Callable[..., int | None]:
        if name == "read_reset":
            value = reg.reset

            def read_reset(n: int, cpu: int) -> int:
                return value

            return read_reset
        fn = SHARED_HANDLERS.get(name)
        if fn is not None:
            return fn
        fn = getattr(owner, name, None)
        if fn is None or not callable(fn):
            raise ValueError(f"{reg.name}: handler {name!r} not found on {type(owner).__name__}")
        if not reg.plain:
            return fn
        if reg.length != 4 or reg.bits_per_irq:
            raise ValueError(f"{reg.name}: a plain register must be a single word")
        accessor = fn
        if write:

            def plain_write(n: int, value: int, mask: int, cpu: int) -> None:
                accessor(value)

            return plain_write

        def plain_read(n: int, cpu: int) -> int:
            return accessor()

        return plain_read

    # -- access ---------------------------------------------------------------------------

    def read(self, offset: int, size: int = 4, cpu: int = 0) -> int:
        """Read ``size`` bytes at ``offset`` of the frame (RAZ for reserved/illegal accesses)."""
        if size == 8 and self._map64:
            e64 = self._map64.get(offset)
            if e64 is not None:
                return e64[0](e64[2], cpu) & _MASK64
            if not 0 <= offset < self.size:
                self._check(offset, 4)
            self.bad_accesses += 1
            return 0
        entry = self._map.get(offset & ~3)
        if entry is None:
            if not 0 <= offset < self.size or size not in _SIZE_BITS:
                self._check(offset, size)
            return 0
        if size == 4 and not offset & 3 and entry[3] & 0b100:  # aligned word: the usual case
            return entry[0](entry[2], cpu)
        if not entry[3] & _SIZE_BITS.get(size, 0) or offset & (size - 1):
            self._check(offset, size)
            self.bad_accesses += 1
            return 0
        value = entry[0](entry[2], cpu)
        if size == 4:
            return value
        return (value >> ((offset & 3) << 3)) & _LANE_MASK[size]

    def write(self, offset: int, value: int, size: int = 4, cpu: int = 0) -> None:
        """Write ``size`` bytes at ``offset`` of the frame (ignored for reserved/illegal accesses)."""
        if size == 8 and self._map64:
            e64 = self._map64.get(offset)
            if e64 is not None:
                e64[1](e64[2], value & _MASK64, _MASK64, cpu)
                return
            if not 0 <= offset < self.size:
                self._check(offset, 4)
            self.bad_accesses += 1
            return
        entry = self._map.get(offset & ~3)
        if entry is None:
            if not 0 <= offset < self.size or size not in _SIZE_BITS:
                self._check(offset, size)
            return
        if size == 4 and not offset & 3 and entry[3] & 0b100:  # aligned word: the usual case
            entry[1](entry[2], value & 0xFFFF_FFFF, 0xFFFF_FFFF, cpu)
            return
        if not entry[3] & _SIZE_BITS.get(size, 0) or offset & (size - 1):
            self._check(offset, size)
            self.bad_accesses += 1
            return
        if size == 4:
            entry[1](entry[2], value & 0xFFFF_FFFF, 0xFFFF_FFFF, cpu)
            return
        shift = (offset & 3) << 3
        lane = _LANE_MASK[size]
        entry[1](entry[2], (value & lane) << shift, lane << shift, cpu)

    def _check(self, offset: int, size: int) -> None:
        if size not in _SIZE_BITS:
            raise ValueError(f"{self.name}: access size must be 1, 2 or 4 bytes, got {size}")
        if not 0 <= offset < self.size:
            raise ValueError(
                f"{self.name}: offset {offset:#x} outside the {self.size:#x}-byte frame"
            )

    # -- introspection --------------------------------------------------------------------

    @property
    def regs(self) -> tuple[Reg, ...]:
        """The register table, sorted by offset."""
        return self._regs

    def decode(self, offset: int) -> tuple[Reg, int] | None:
        """The register covering ``offset`` and the word index in it (None if reserved).

        Uses a binary search over the sorted table; for introspection and tools, not the
        access path.
        """
        i = bisect.bisect_right(self._offsets, offset) - 1
        if i < 0:
            return None
        reg = self._regs[i]
        if offset >= reg.offset + reg.span():
            return None
        return reg, (offset - reg.offset) // 4

    def word_entries(self) -> list[tuple[int, tuple[ReadFn, WriteFn, int, int]]]:
        """Every decoded word: ``(offset, (read, write, n, allowed-size bits))`` where bit 2
        of ``allowed`` means 4-byte accesses are legal (for callers that flatten several
        frames into one decode table, e.g. ``GICv2``)."""
        return sorted(self._map.items())

    def is_implemented(self, offset: int) -> bool:
        """True if the word at ``offset`` is decoded to handlers (not RAZ/WI reserved space)."""
        return (offset & ~3) in self._map

    def reg_named(self, name: str) -> Reg:
        """The entry called ``name`` (KeyError if absent)."""
        for reg in self._regs:
            if reg.name == name:
                return reg
        raise KeyError(name)
