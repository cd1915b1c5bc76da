"""Modelled RAM for the tables a GICv3 keeps in memory (IHI 0069H §5.1.1, §5.1.2, §6.2).

LPI configuration and pending tables (GICR_PROPBASER, GICR_PENDBASER), virtual LPI tables
(GICR_VPROPBASER, GICR_VPENDBASER), the ITS command queue (GITS_CBASER) and whatever
software writes next to them.  Sparse: 4 KiB pages allocated on first write, reads of
untouched memory return zero.  Little-endian, any size 1..8 bytes at any alignment.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PAGE_SHIFT", "RAM_BASE", "Memory"]

RAM_BASE: Final = 0x4000_0000
"""First RAM address of QEMU's ``virt`` board."""
PAGE_SHIFT: Final = 12
_PAGE: Final = 1 << PAGE_SHIFT
_OFF_MASK: Final = _PAGE - 1


class Memory:
    """Sparse byte-addressed RAM."""

    __slots__ = ("_pages",)

    def __init__(self) -> None:
        self._pages: dict[int, bytearray] = {}

    def read(self, addr: int, size: int) -> int:
        """Little-endian value of ``size`` bytes at ``addr``."""
        off = addr & _OFF_MASK
        if off + size <= _PAGE:
            page = self._pages.get(addr >> PAGE_SHIFT)
            if page is None:
                return 0
            return int.from_bytes(page[off:off + size], "little")
        return int.from_bytes(self.read_bytes(addr, size), "little")

    def write(self, addr: int, value: int, size: int) -> None:
        """Store the low ``size`` bytes of ``value`` at ``addr``, little-endian."""
        data = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        off = addr & _OFF_MASK
        if off + size <= _PAGE:
            self._page(addr)[off:off + size] = data
            return
        for i, b in enumerate(data):
            self._page(addr + i)[(addr + i) & _OFF_MASK] = b

    def read_bytes(self, addr: int, size: int) -> bytes:
        """``size`` bytes from ``addr``."""
        out = bytearray()
        while size > 0:
            off = addr & _OFF_MASK
            n = min(size, _PAGE - off)
            page = self._pages.get(addr >> PAGE_SHIFT)
            out += page[off:off + n] if page is not None else bytes(n)
            addr += n
            size -= n
        return bytes(out)

    def read_u8(self, addr: int) -> int:
        """One byte."""
        page = self._pages.get(addr >> PAGE_SHIFT)
        return 0 if page is None else page[addr & _OFF_MASK]

    def write_u8(self, addr: int, value: int) -> None:
        """Store one byte."""
        self._page(addr)[addr & _OFF_MASK] = value & 0xFF

    def set_bit(self, base: int, bit: int, value: bool) -> None:
        """Set or clear bit ``bit`` of the bitmap at ``base`` (a pending table)."""
        addr = base + (bit >> 3)
        m = 1 << (bit & 7)
        page = self._pages.get(addr >> PAGE_SHIFT)
        if page is None:
            if not value:
                return
            page = self._page(addr)
        off = addr & _OFF_MASK
        page[off] = (page[off] | m) if value else (page[off] & ~m)

    def test_bit(self, base: int, bit: int) -> bool:
        """Bit ``bit`` of the bitmap at ``base``."""
        return bool(self.read_u8(base + (bit >> 3)) >> (bit & 7) & 1)

    def set_bits(self, base: int, nbits: int, start: int = 0) -> list[int]:
        """Indices ``>= start`` of the set bits among the first ``nbits`` of the bitmap at
        ``base`` (a pending-table scan; only touched pages are visited)."""
        out: list[int] = []
        first, last = base + (start >> 3), base + ((nbits + 7) >> 3)
        for pn in sorted(p for p in self._pages if first >> PAGE_SHIFT <= p <= (last - 1) >> PAGE_SHIFT):
            page = self._pages[pn]
            lo = max(first, pn << PAGE_SHIFT)
            hi = min(last, (pn + 1) << PAGE_SHIFT)
            off = lo & _OFF_MASK
            if not any(page[off:off + (hi - lo)]):
                continue
            for i in range(hi - lo):
                byte = page[off + i]
                while byte:
                    b = (byte & -byte).bit_length() - 1
                    n = ((lo - base + i) << 3) | b
                    if start <= n < nbits:
                        out.append(n)
                    byte &= byte - 1
        return out

    def _page(self, addr: int) -> bytearray:
        pn = addr >> PAGE_SHIFT
        page = self._pages.get(pn)
        if page is None:
            page = self._pages[pn] = bytearray(_PAGE)
        return page
