"""Built-in scenarios, scenario TOML files (errors name file and key path) and --set overrides."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from irqfwd.cli.errors import InputError
from irqfwd.config import ScenarioConfig
from irqfwd.scenarios.builtin import (
    apply_overrides,
    get_scenario,
    load_scenario,
    parse_duration,
    register_scenario,
    scenario_names,
)

EXAMPLES = resources.files("irqfwd.scenarios").joinpath("examples")


def test_builtins_match_their_description() -> None:
    """nic-level: 1 pCPU, 1 VM, 1 vCPU, level NIC 20 kHz periodic, 10 ms; the others vary one axis."""
    assert {"nic-level", "nic-edge", "nic-burst", "two-vms-one-pcpu"} <= set(scenario_names())
    lvl = get_scenario("nic-level")
    assert (lvl.pcpus, len(lvl.vms), lvl.vms[0].vcpus, lvl.duration_ns) == (1, 1, 1, 10_000_000)
    dev = lvl.devices[0]
    assert (dev.trigger, dev.traffic.pattern, dev.traffic.rate_hz) == ("level", "periodic", 20_000)
    assert get_scenario("nic-edge").devices[0].trigger == "edge"
    assert get_scenario("nic-burst").devices[0].traffic.pattern == "burst"
    two = get_scenario("two-vms-one-pcpu")
    assert two.pcpus == 1 and len(two.vms) == 2 and two.scheduler.policy == "round-robin"
    assert sorted(d.vm for d in two.devices) == [0, 1]


def test_get_scenario_returns_a_copy() -> None:
    """Changing a loaded scenario does not change the registry."""
    a = get_scenario("nic-level")
    a.devices[0].traffic.rate_hz = 1.0
    assert get_scenario("nic-level").devices[0].traffic.rate_hz == 20_000


def test_register_scenario_rejects_duplicates() -> None:
    """The registry keeps one scenario per name unless replace=True."""
    with pytest.raises(ValueError, match="already registered"):
        register_scenario(ScenarioConfig(name="nic-level"))


def test_unknown_scenario_lists_builtins() -> None:
    """An unknown name is an InputError that lists the built-ins."""
    with pytest.raises(InputError, match=r"unknown scenario 'nic-levl'.*nic-level"):
        load_scenario("nic-levl")


@pytest.mark.parametrize("name", ["nic-poisson-4vcpu.toml", "two-nics-lr-pressure.toml", "nic-trace.toml"])
def test_packaged_examples_load(name: str) -> None:
    """Every example TOML shipped in the package validates; relative trace paths are resolved."""
    with resources.as_file(EXAMPLES.joinpath(name)) as path:
        cfg = load_scenario(str(path))
        assert cfg.name == Path(name).stem
        for dev in cfg.devices:
            if dev.traffic.trace_csv:
                assert Path(dev.traffic.trace_csv).is_file()


def write(tmp_path: Path, text: str) -> str:
    f = tmp_path / "s.toml"
    f.write_text(text)
    return str(f)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("duration_ns = 5\nbogus = 1\n", r"s\.toml: bogus: Extra inputs are not permitted"),
        ("[[devices]]\n[devices.traffic]\nrate_hz = -3\n", r"s\.toml: devices\.0\.traffic\.rate_hz: Input should be greater than 0"),
        ("[[devices]]\ntrigger = 'both'\n", r"s\.toml: devices\.0\.trigger: Input should be 'level' or 'edge'"),
        ("[[devices]]\nvm = 3\n", r"s\.toml: devices\.0\.vm: device 'nic0' is assigned to VM 3"),
        ("duration_ns = = 1\n", r"s\.toml: invalid TOML"),
    ],
)
def test_toml_errors_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    """Schema errors are InputErrors naming the file and the dotted key path."""
    with pytest.raises(InputError, match=expected):
        load_scenario(write(tmp_path, text))


def test_toml_name_defaults_to_file_stem(tmp_path: Path) -> None:
    """A scenario file without name is named after the file."""
    assert load_scenario(write(tmp_path, "duration_ns = 1000\n")).name == "s"


def test_missing_toml_file(tmp_path: Path) -> None:
    """A missing .toml path is an InputError naming it."""
    with pytest.raises(InputError, match="no such scenario file"):
        load_scenario(str(tmp_path / "absent.toml"))


@pytest.mark.parametrize(
    ("text", "ns"),
    [("5ms", 5_000_000), ("200us", 200_000), ("1.5s", 1_500_000_000), ("750", 750), ("10ns", 10), ("2µs", 2_000)],
)
def test_parse_duration(text: str, ns: int) -> None:
    """Durations accept ns integers and the ns/us/µs/ms/s suffixes."""
    assert parse_duration(text) == ns


def test_parse_duration_is_exact_in_decimal() -> None:
    """A decimal duration is read exactly, not through a binary float: every whole number of
    ns written in µs with three decimals is accepted (1.005us is 1005 ns; float rounding
    rejected 212 of those below 3 µs), a fraction of a ns is refused, and digits are ASCII
    only (a full-width "１ms" is not a duration)."""
    for ns in range(1, 3_000):
        assert parse_duration(f"{ns // 1000}.{ns % 1000:03d}us") == ns
    assert parse_duration("99999999999999999999999s") == 99999999999999999999999 * 10**9
    with pytest.raises(ValueError, match="not a whole number of ns"):
        parse_duration("1.0005us")
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("\uff11ms")


def test_shortcut_overrides() -> None:
    """rate, duration, trigger, pattern, pcpus, lrs apply to every device / the machine."""
    cfg = apply_overrides(
        get_scenario("two-vms-one-pcpu"),
        ["rate=50k", "duration=2ms", "trigger=edge", "pattern=poisson", "pcpus=2", "lrs=16"],
    )
    assert [d.traffic.rate_hz for d in cfg.devices] == [50_000, 50_000]
    assert [d.trigger for d in cfg.devices] == ["edge", "edge"]
    assert [d.traffic.pattern for d in cfg.devices] == ["poisson", "poisson"]
    assert (cfg.duration_ns, cfg.pcpus, cfg.num_lrs) == (2_000_000, 2, 16)


def test_device_shortcuts_need_devices() -> None:
    """rate/trigger/pattern on a scenario without devices is an error, not a silent no-op."""
    with pytest.raises(InputError, match="--set rate: the scenario has no devices"):
        apply_overrides(ScenarioConfig(name="empty", devices=[]), ["rate=5k"])


def test_vms_override_adds_one_nic_per_vm() -> None:
    """vms=3 on a one-NIC-per-VM scenario adds VMs with their own NIC on the next host INTIDs."""
    cfg = apply_overrides(get_scenario("nic-level"), ["vms=3", "vcpus=2"])
    assert len(cfg.vms) == 3 and all(vm.vcpus == 2 for vm in cfg.vms)
    assert [(d.vm, d.host_intid) for d in cfg.devices] == [(0, 48), (1, 49), (2, 50)]
    assert len({d.name for d in cfg.devices}) == 3


def test_dotted_path_overrides() -> None:
    """Generic dotted paths reach nested keys and list items; values are coerced by the schema."""
    cfg = apply_overrides(
        get_scenario("nic-level"),
        ["devices.0.traffic.pattern=poisson", "devices.0.traffic.burst_size=4", "scheduler.policy=round-robin",
         "guest.eoimode=1", "devices.0.handler_ns=none", "devices.0.threaded=true"],
    )
    assert cfg.devices[0].traffic.pattern == "poisson" and cfg.devices[0].traffic.burst_size == 4
    assert cfg.scheduler.policy == "round-robin" and cfg.guest.eoimode == 1
    assert cfg.devices[0].handler_ns is None and cfg.devices[0].threaded is True


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("rate", r"--set 'rate': expected key=value"),
        ("rate=fast", r"--set rate: 'fast' is not a rate"),
        ("duration=3 weeks", r"--set duration: '3 weeks' is not a duration"),
        ("colour=red", r"--set colour: unknown key 'colour'"),
        ("devices.0.traffic.speed=1", r"--set devices\.0\.traffic\.speed: devices\.0\.traffic\.speed: unknown key 'speed'"),
        ("devices.4.trigger=edge", r"--set devices\.4\.trigger: devices\.4: index 4 out of range"),
        ("trigger=both", r"--set trigger=both: devices\.0\.trigger: Input should be 'level' or 'edge'"),
        ("lrs=1", r"--set lrs=1: num_lrs: Input should be greater than or equal to 2"),
        ("vcpus=two", r"--set vcpus: 'two' is not an integer"),
        ("duration_ns=5ms", r"--set duration_ns: '5ms' is not an integer"),
        ("devices.0.threaded=maybe", r"--set devices\.0\.threaded: 'maybe' is not a boolean"),
        ("devices.0.vcpu=1", r"--set devices\.0\.vcpu=1: devices\.0\.vcpu: device 'nic0' targets vCPU 1"),
    ],
)
def test_bad_overrides_name_the_key(item: str, expected: str) -> None:
    """Bad --set keys or values raise InputError naming the key (exit status 2 in the CLI)."""
    with pytest.raises(InputError, match=expected):
        apply_overrides(get_scenario("nic-level"), [item])


# ---------------------------------------------------------------------- host_cpu (irq_set_affinity)
def test_host_cpu_from_toml_and_set(tmp_path: Path) -> None:
    """``devices.N.host_cpu`` (the host IRQ's smp_affinity_list) loads from a scenario file and
    from ``--set`` (a dotted path; the string is coerced to an int by the schema); None by
    default (the boot CPU)."""
    assert get_scenario("nic-level").devices[0].host_cpu is None
    cfg = load_scenario(write(tmp_path, "pcpus = 2\n[[devices]]\nhost_cpu = 1\n"))
    assert cfg.devices[0].host_cpu == 1
    cfg = apply_overrides(get_scenario("nic-level"), ["pcpus=2", "devices.0.host_cpu=1"])
    assert cfg.devices[0].host_cpu == 1
    assert apply_overrides(cfg, ["devices.0.host_cpu=none"]).devices[0].host_cpu is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[devices]]\nhost_cpu = 1\n",
         r"devices\.0\.host_cpu: device 'nic0' routes its host interrupt to pCPU 1, but there is 1 pCPU"),
        ("pcpus = 2\n[[devices]]\nhost_cpu = 2\n",
         r"devices\.0\.host_cpu: device 'nic0' routes its host interrupt to pCPU 2, but there are 2 pCPUs"),
        ("[[devices]]\nhost_cpu = -1\n", r"devices\.0\.host_cpu: Input should be greater than or equal to 0"),
        ("gic = 'v3'\npcpus = 2\n[[devices]]\nkind = 'msix-nic'\nhost_cpu = 2\n",
         r"devices\.0\.host_cpu: device 'nic0' routes its host interrupts to pCPU 2, but there are 2 pCPUs"),
        ("pcpus = 2\n[[vms]]\nvcpus = 2\n[[devices]]\nkind = 'ipi'\nvcpu = 1\nhost_cpu = 0\n",
         r"devices\.0\.host_cpu: applies to devices with host interrupts \(kind 'nic' or 'msix-nic'\); "
         r"device 'nic0' is kind 'ipi'"),
    ],
)
def test_host_cpu_is_checked_against_the_scenario(tmp_path: Path, text: str, expected: str) -> None:
    """host_cpu must name one of the scenario's pCPUs and applies to devices with host
    interrupts (an SPI, MSI-X vectors' LPIs), not to guest IPIs."""
    with pytest.raises(InputError, match=expected):
        load_scenario(write(tmp_path, text))


def test_host_cpu_set_then_pcpus_shrunk_is_an_error() -> None:
    """A later ``pcpus`` that drops the host_cpu's pCPU leaves the scenario invalid: the error
    names the assignment that made it so and the field."""
    with pytest.raises(InputError, match=r"^--set pcpus=1: devices\.0\.host_cpu: .*pCPU 1, but there is 1 pCPU"):
        apply_overrides(get_scenario("nic-level"), ["pcpus=2", "devices.0.host_cpu=1", "pcpus=1"])
