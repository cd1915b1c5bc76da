"""Fixtures of the GICv3/v4 model tests: a fresh device and a helper that programs it the
way a driver would (wake the redistributors, LPI tables, ITS tables and command queue)."""

from __future__ import annotations

import pytest

from irqfwd.hw.gicv3 import GICv3, GICv3Config, its_command

PROP = 0x4040_0000
PEND = (0x4041_0000, 0x4042_0000)
DEVICE_TABLE, COLLECTION_TABLE, VPE_TABLE = 0x4043_0000, 0x4044_0000, 0x4047_0000
QUEUE = 0x4045_0000
ITT = 0x4046_0000


class Driver:
    """Programs a :class:`GICv3` through its registers only (MMIO and system registers)."""

    def __init__(self, gic: GICv3) -> None:
        self.gic = gic
        self.cfg = gic.config
        self.slot = 0

    def rd(self, cpu: int) -> int:
        """RD_base of ``cpu``'s redistributor."""
        return self.cfg.gicr_base + cpu * self.cfg.gicr_stride

    def sgi(self, cpu: int) -> int:
        return self.rd(cpu) + 0x10000

    def vlpi(self, cpu: int) -> int:
        return self.rd(cpu) + 0x20000

    def wake(self, groups: int = 3) -> None:
        """GICR_WAKER cleared, GICD_CTLR group enables, PMR open, ICC_IGRPEN<n> on."""
        g = self.gic
        g.write(self.cfg.gicd_base, groups)
        for c in range(self.cfg.num_cpus):
            g.write(self.rd(c) + 0x14, 0)
            g.write_sysreg(c, "ICC_PMR_EL1", 0xFF)
            g.write_sysreg(c, "ICC_IGRPEN0_EL1", 1)
            g.write_sysreg(c, "ICC_IGRPEN1_EL1", 1)

    def spi(self, intid: int, prio: int = 0x80, group1: bool = True, cpu: int = 0) -> None:
        """Configure SPI ``intid``: group, priority, route, enabled."""
        g, d = self.gic, self.cfg.gicd_base
        n, b = intid // 32, 1 << (intid % 32)
        grp = g.read(d + 0x80 + 4 * n)
        g.write(d + 0x80 + 4 * n, (grp | b) if group1 else (grp & ~b))
        g.write(d + 0x400 + intid, prio, 1)
        g.write(d + 0x6000 + 8 * intid, cpu, 8)
        g.write(d + 0x100 + 4 * n, b)

    def pend_spi(self, intid: int) -> None:
        self.gic.write(self.cfg.gicd_base + 0x200 + 4 * (intid // 32), 1 << (intid % 32))

    def lpis(self, id_bits: int = 16) -> None:
        """GICR_PROPBASER/PENDBASER of every PE and EnableLPIs."""
        g = self.gic
        for c in range(self.cfg.num_cpus):
            g.write(self.rd(c) + 0x70, PROP | (id_bits - 1), 8)
            g.write(self.rd(c) + 0x78, PEND[c] if c < 2 else PEND[0] + 0x10000 * c, 8)
            g.write(self.rd(c), 1)

    def lpi_config(self, intid: int, prio: int, enabled: bool = True, table: int = PROP) -> None:
        self.gic.write(table + intid - 8192, prio | int(enabled), 1)

    def its(self) -> None:
        """ITS tables (device, collection and, on a GICv4, vPE), command queue, enabled."""
        g, base = self.gic, self.cfg.gits_base
        g.write(base + 0x100, (1 << 63) | DEVICE_TABLE | 2 << 8, 8)
        g.write(base + 0x108, (1 << 63) | COLLECTION_TABLE | 2 << 8, 8)
        if self.cfg.version >= 4:
            g.write(base + 0x110, (1 << 63) | VPE_TABLE | 2 << 8, 8)
        g.write(base + 0x80, (1 << 63) | QUEUE, 8)
        g.write(base, 1)

    def cmd(self, cmd: int, dw0: int = 0, dw1: int = 0, dw2: int = 0, dw3: int = 0) -> None:
        """Queue one ITS command and advance GITS_CWRITER (4 KiB queue, wrapping)."""
        data = its_command(cmd, dw0, dw1, dw2, dw3)
        addr = QUEUE + self.slot * 32
        for i in range(4):
            self.gic.write(addr + 8 * i, int.from_bytes(data[8 * i:8 * i + 8], "little"), 8)
        self.slot = (self.slot + 1) % 128
        self.gic.write(self.cfg.gits_base + 0x88, self.slot * 32, 8)

    def mapd(self, dev: int, bits: int = 5, valid: bool = True) -> None:
        self.cmd(0x08, dev << 32, bits - 1, (int(valid) << 63) | ITT)

    def mapc(self, icid: int, cpu: int) -> None:
        self.cmd(0x09, 0, 0, (1 << 63) | cpu << 16 | icid)

    def mapti(self, dev: int, event: int, intid: int, icid: int) -> None:
        self.cmd(0x0A, dev << 32, intid << 32 | event, icid)

    def vmapp(self, vpe: int, cpu: int, vpt: int, bits: int = 16, valid: bool = True) -> None:
        self.cmd(0x29, 0, vpe << 32, (int(valid) << 63) | cpu << 16, vpt | (bits - 1))

    def vmapti(self, dev: int, event: int, vpe: int, vintid: int, doorbell: int = 1023) -> None:
        self.cmd(0x2A, dev << 32, vpe << 32 | event, doorbell << 32 | vintid)

    def vmovp(self, vpe: int, cpu: int) -> None:
        self.cmd(0x22, 0, vpe << 32, cpu << 16)

    def resident(self, cpu: int, vpt: int | None, vprop: int = 0x4049_0000) -> None:
        """Make the vPE with virtual pending table ``vpt`` resident on ``cpu`` (None: no vPE)."""
        g = self.gic
        if vpt is None:
            cur = g.read(self.vlpi(cpu) + 0x78, 8)
            g.write(self.vlpi(cpu) + 0x78, cur & ~(1 << 63), 8)
            return
        g.write(self.vlpi(cpu) + 0x70, vprop | 15, 8)
        g.write(self.vlpi(cpu) + 0x78, (1 << 63) | vpt, 8)


@pytest.fixture
def gic() -> GICv3:
    """Architectural GICv3, 2 PEs (QEMU virt sizes)."""
    return GICv3(GICv3Config())


@pytest.fixture
def gic4() -> GICv3:
    """Architectural GICv4, 2 PEs."""
    return GICv3(GICv3Config(version=4))


@pytest.fixture
def drv(gic: GICv3) -> Driver:
    return Driver(gic)


@pytest.fixture
def drv4(gic4: GICv3) -> Driver:
    return Driver(gic4)


@pytest.fixture
def drv41() -> Driver:
    """Architectural GICv4.1 (model only), 2 PEs, behind a Driver."""
    return Driver(GICv3(GICv3Config.gicv41_virt()))
