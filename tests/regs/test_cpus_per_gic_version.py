"""``irqfwd regs run --cpus N``: bounded by the script's own GIC version (a GICv2 has 1..8
CPU interfaces, a GICv3/v4 1..16 redistributors); out of range is one ``irqfwd: error:``
line naming --cpus, exit status 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from irqfwd.errors import InputError
from irqfwd.hw.gicv3.config import GICv3Config
from irqfwd.regs.script import parse_script

ROOT = Path(__file__).resolve().parents[2]
V3 = ROOT / "scripts" / "regs" / "gicv3" / "v3-cbpr.regs"
V2 = ROOT / "scripts" / "regs" / "tv08-pmr.regs"



@pytest.mark.parametrize("cpus", ["9", "16"])
def test_gicv3_script_runs_with_more_than_8_cpus(irqfwd, cpus: str) -> None:  # type: ignore[no-untyped-def]
    res = irqfwd("regs", "run", str(V3), "--cpus", cpus)
    assert res.code == 0, res.err
    assert "Traceback" not in res.err


def test_gicv3_script_parses_with_a_9_cpu_gicv3_config() -> None:
    script = parse_script(V3.read_text(), str(V3), GICv3Config(num_cpus=9, version=3))
    assert script.version == 3


@pytest.mark.parametrize(("script", "cpus", "message"), [
    (V3, "17", "--cpus: num_cpus must be 1..16, got 17"),
    (V3, "0", "--cpus: num_cpus must be 1..16, got 0"),
    (V2, "9", "--cpus: num_cpus must be 1..8, got 9"),
])
def test_cpus_out_of_range_for_the_scripts_gic_version_is_an_error_naming_cpus(
        irqfwd_error, script: Path, cpus: str, message: str) -> None:  # type: ignore[no-untyped-def]
    err = irqfwd_error("regs", "run", str(script), "--cpus", cpus)
    assert message in err


class _CpuCount:
    """Only a CPU count, the one thing parse_script reads from a config of another version."""

    def __init__(self, n: int) -> None:
        self.num_cpus = n


def test_parse_script_with_too_many_cpus_for_its_version_is_an_input_error() -> None:
    with pytest.raises(InputError, match="--cpus 17 for a GICv3 script"):
        parse_script(V3.read_text(), str(V3), _CpuCount(17))  # type: ignore[arg-type]
