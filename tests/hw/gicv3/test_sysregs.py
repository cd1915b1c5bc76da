"""The system-register table (IHI 0069H §12.1.5 encodings) and the probe's stub index."""

from __future__ import annotations

import pytest

from irqfwd.hw.gic.sysregs import GICV3_SYSREGS, ICV_NAMES, encoding, route, sysreg_by_name
from irqfwd.regs.qemu import probe_stub_index

KNOWN = {  # a few encodings straight from the architecture (op0, op1, CRn, CRm, op2)
    "ICC_PMR_EL1": (3, 0, 4, 6, 0), "ICC_IAR1_EL1": (3, 0, 12, 12, 0),
    "ICC_EOIR1_EL1": (3, 0, 12, 12, 1), "ICC_DIR_EL1": (3, 0, 12, 11, 1),
    "ICC_SGI1R_EL1": (3, 0, 12, 11, 5), "ICC_SRE_EL2": (3, 4, 12, 9, 5),
    "ICH_HCR_EL2": (3, 4, 12, 11, 0), "ICH_VMCR_EL2": (3, 4, 12, 11, 7),
    "ICH_LR0_EL2": (3, 4, 12, 12, 0), "ICH_LR15_EL2": (3, 4, 12, 13, 7),
    "ICH_AP1R0_EL2": (3, 4, 12, 9, 0), "ICC_AP0R0_EL1": (3, 0, 12, 8, 4),
}


def test_encodings_unique_and_architectural() -> None:
    encs = [r.enc for r in GICV3_SYSREGS]
    assert len(encs) == len(set(encs))
    for name, fields in KNOWN.items():
        assert sysreg_by_name(name)[0].enc == encoding(*fields), name


def test_icv_names_are_the_virtualized_icc_registers() -> None:
    """§12.3: ICV_* exist for the registers IMO/FMO redirect, not for SGI/SRE/EL2 ones."""
    assert "ICV_IAR1_EL1" in ICV_NAMES and "ICV_PMR_EL1" in ICV_NAMES
    for missing in ("ICV_SGI1R_EL1", "ICV_SRE_EL1", "ICV_HCR_EL2"):
        assert missing not in ICV_NAMES
    reg, virtual = sysreg_by_name("icv_eoir0_el1")
    assert reg.name == "ICC_EOIR0_EL1" and virtual


@pytest.mark.parametrize("reg", GICV3_SYSREGS, ids=[r.name for r in GICV3_SYSREGS])
def test_probe_stub_covers_every_register(reg) -> None:  # type: ignore[no-untyped-def]
    """probe/start.S has one stub per CRn = 12 encoding with op1 0 or 4, plus ICC_PMR_EL1."""
    el, idx = probe_stub_index(reg.name)
    assert el == 2 and 0 <= idx <= 128
    if reg.virt:
        assert probe_stub_index("ICV" + reg.name[3:]) == (1, idx)


def test_route_el2_is_physical() -> None:
    enc = sysreg_by_name("ICC_IAR1_EL1")[0].enc
    assert route(enc, 2, True, True) == (sysreg_by_name("ICC_IAR1_EL1")[0], False)
    assert route(enc, 1, True, False)[1] is True
    assert route(enc, 1, False, True)[1] is False
