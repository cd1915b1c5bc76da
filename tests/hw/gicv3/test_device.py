"""The GICv3 device: memory map, 64-bit registers, RAM, outputs and hooks (GicDevice)."""

from __future__ import annotations

import pytest

from irqfwd.hw.gic.memory import Memory
from irqfwd.hw.gic.regs import Reg, RegisterBlock
from irqfwd.hw.gicv3 import GICv3, GICv3Config


def test_output_hook_and_events(drv) -> None:  # type: ignore[no-untyped-def]
    """on_output fires on every level change; on_event on activation/deactivation."""
    g = drv.gic
    outs: list[tuple[int, str, bool]] = []
    evs: list[tuple[str, int, int, str]] = []
    g.on_output = lambda *a: outs.append(a)
    g.on_event = lambda *a: evs.append(a)
    drv.wake()
    drv.spi(40)
    drv.pend_spi(40)
    g.read_sysreg(0, "ICC_IAR1_EL1")
    g.write_sysreg(0, "ICC_EOIR1_EL1", 40)
    assert outs == [(0, "irq", True), (0, "irq", False)]
    assert evs == [("activate", 40, 0, "iar"), ("deactivate", 40, 0, "eoir")]


def test_ram_and_bad_addresses(gic: GICv3) -> None:
    """RAM from 0x40000000 is plain memory; other addresses outside the frames raise."""
    gic.write(0x4040_0003, 0x1122_3344_5566_7788, 8)
    assert gic.read(0x4040_0003, 8) == 0x1122_3344_5566_7788
    assert gic.read(0x4040_0004, 2) == 0x6677
    with pytest.raises(ValueError, match="not in a GIC frame"):
        gic.read(0x0900_0000)
    with pytest.raises(ValueError, match="cpu 2 out of range"):
        gic.read(0x0800_0000, 4, 2)


def test_memory_sparse_bitmaps() -> None:
    """Pending-table helpers: set/test bits, scans visit only written pages."""
    m = Memory()
    m.set_bit(0x4041_0000, 8192, True)
    m.set_bit(0x4041_0000, 65535, True)
    assert m.test_bit(0x4041_0000, 8192)
    assert m.set_bits(0x4041_0000, 1 << 16, 8192) == [8192, 65535]
    m.set_bit(0x4041_0000, 8192, False)
    assert m.set_bits(0x4041_0000, 1 << 16) == [65535]
    assert m.read(0x5000_0000, 8) == 0


class _Owner:
    def __init__(self) -> None:
        self.v = 0
        self.writes: list[tuple[int, int]] = []

    def rd(self, n: int, cpu: int) -> int:
        return self.v

    def wr(self, n: int, value: int, mask: int, cpu: int) -> None:
        self.writes.append((value, mask))
        self.v = (self.v & ~mask) | (value & mask)


def test_regs_64bit_whole_and_halves() -> None:
    """IHI 0069H §12.1.3: a 64-bit register is accessed whole or as 32-bit halves; a
    64-bit access elsewhere is RAZ/WI and counted."""
    o = _Owner()
    b = RegisterBlock("T", 0x100, [Reg("R64", 0x10, length=8, width=64, sizes=(4, 8),
                                       read="rd", write="wr"),
                                   Reg("R32", 0x20, read="rd", write="wr")], o)
    b.write(0x10, 0x1122_3344_5566_7788, 8)
    assert b.read(0x10, 8) == 0x1122_3344_5566_7788
    assert b.read(0x14) == 0x1122_3344 and b.read(0x10) == 0x5566_7788
    b.write(0x14, 0xAABB_CCDD)
    assert o.writes[-1] == (0xAABB_CCDD << 32, 0xFFFF_FFFF << 32)
    assert b.read(0x20, 8) == 0 and b.bad_accesses == 1


def test_gicv2_block_rejects_8_byte_size() -> None:
    """GICv2 blocks are unchanged: no 64-bit register, so size 8 is RAZ... or an error."""
    o = _Owner()
    b = RegisterBlock("T", 0x100, [Reg("R32", 0x20, read="rd", write="wr")], o)
    with pytest.raises(ValueError, match="access size must be 1, 2 or 4"):
        b.read(0x20, 8)


def test_reset_forgets_everything() -> None:
    """reset(): reset values again, RAM cleared."""
    g = GICv3(GICv3Config(version=4))
    g.write(0x0800_0000, 3)
    g.write(0x4040_0000, 5, 1)
    g.write_sysreg(1, "ICH_LR0_EL2", 1 << 62 | 0x20)
    g.reset()
    assert g.read(0x0800_0000) == 0x50 and g.read(0x4040_0000, 1) == 0
    assert g.read_sysreg(1, "ICH_LR0_EL2") == 0


def test_satisfies_the_device_protocols() -> None:
    """GICv3 is a GicDevice and a SysRegGicDevice (checked by mypy too)."""
    from irqfwd.hw.gic.device import GicDevice, SysRegGicDevice

    g: SysRegGicDevice = GICv3(GICv3Config())
    d: GicDevice = g
    assert d.version == 3 and d.num_cpus == 2 and len(d.outputs) == 2
