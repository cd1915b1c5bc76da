"""Bad input (issue 13 §4): every user-facing entry rejects malformed, out-of-range or
inconsistent input with one ``irqfwd: error:`` line naming the field and the problem, exit
status 2, no traceback, and never overwrites or half-writes a user's file.

Entries: CLI arguments, scenario TOML files and ``--set``, cost-profile TOML files,
register scripts, replay files, traffic trace CSV files.  (The fuzz tests beside this file
feed each parser random input.)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

SHORT = ["--set", "duration=50us"]


# --------------------------------------------------------------------------- scenario files

SCENARIO_CASES = [
    # a device on a VM that does not exist
    ("[[devices]]\nvm = 3\n", "devices.0.vm: device 'nic0' is assigned to VM 3, but there is 1 VM"),
    # a device on a vCPU that does not exist
    ("[[devices]]\nvcpu = 2\n", "devices.0.vcpu: device 'nic0' targets vCPU 2 of VM 0, which has 1 vCPU(s)"),
    # a pin list of the wrong length
    ("[[vms]]\nvcpus = 2\npin = [0]\n", "vms.0.pin: lists 1 pCPU(s) for 2 vCPU(s)"),
    # a pin naming a pCPU that does not exist
    ("[[vms]]\npin = [3]\n", "vms.0.pin: names pCPU 3, but there is 1 pCPU"),
    # a host IRQ affinity naming a pCPU that does not exist, or on a device without a host interrupt
    ("[[devices]]\nhost_cpu = 1\n",
     "devices.0.host_cpu: device 'nic0' routes its host interrupt to pCPU 1, but there is 1 pCPU"),
    ("gic = 'v3'\n[[devices]]\nkind = 'msix-nic'\nhost_cpu = 1\n",
     "devices.0.host_cpu: device 'nic0' routes its host interrupts to pCPU 1, but there is 1 pCPU"),
    ("pcpus = 2\n[[vms]]\nvcpus = 2\n[[devices]]\nkind = 'ipi'\nvcpu = 1\nhost_cpu = 0\n",
     "devices.0.host_cpu: applies to devices with host interrupts (kind 'nic' or 'msix-nic'); "
     "device 'nic0' is kind 'ipi'"),
    # two devices on one host INTID
    ("[[devices]]\nname = 'a'\n[[devices]]\nname = 'b'\n",
     "devices.1.host_intid: device 'b' is wired to host INTID 48, already used by device 'a'"),
    # two devices of one VM on one vINTID
    ("[[devices]]\nname = 'a'\n[[devices]]\nname = 'b'\nhost_intid = 49\n",
     "devices.1.guest_intid: VM 0 already has device 'a' on vINTID 48"),
    # two devices with one name (the checker tells devices apart by name)
    ("[[devices]]\n[[devices]]\nhost_intid = 49\nguest_intid = 49\n",
     "devices.1.name: device name 'nic0' is already used by devices.0"),
    # an INTID in the SGI/PPI range, or past the last SPI
    ("[[devices]]\nhost_intid = 27\n", "devices.0.host_intid: Input should be greater than or equal to 32"),
    ("[[devices]]\nguest_intid = 15\n", "devices.0.guest_intid: Input should be greater than or equal to 32"),
    ("[[devices]]\nhost_intid = 1020\n", "devices.0.host_intid: Input should be less than or equal to 1019"),
    # out of range
    ("pcpus = 0\n", "pcpus: Input should be greater than or equal to 1"),
    ("duration_ns = -1\n", "duration_ns: Input should be greater than 0"),
    ("num_lrs = 65\n", "num_lrs: Input should be less than or equal to 64"),
    ("[[vms]]\nvcpus = 9\n", "vms.0.vcpus: Input should be less than or equal to 8"),
    ("[[devices]]\n[devices.traffic]\nrate_hz = 0\n", "devices.0.traffic.rate_hz: Input should be greater than 0"),
    ("[[devices]]\n[devices.traffic]\ncount = 0\n", "devices.0.traffic.count: Input should be greater than or equal to 1"),
    # inconsistent
    ("[[devices]]\n[devices.traffic]\npattern = 'trace'\n", "devices.0.traffic: Value error, pattern 'trace' needs trace_csv"),
    ("[[devices]]\n[devices.traffic]\npattern = 'burst'\nburst_size = 8\nburst_gap_ns = 100000\n",
     "devices.0.traffic: Value error, burst_gap_ns: a burst of 8 events 100000 ns apart lasts 700000 ns"),
    ("[[vms]]\n[vms.timer]\noneshot_min_ns = 9000\noneshot_max_ns = 10\n",
     "vms.0.timer: Value error, oneshot_min_ns (9000) is above oneshot_max_ns (10)"),
    ("cost_profile = ''\n", "cost_profile: String should have at least 1 character"),
    # malformed
    ("pcpus = 'two'\n", "pcpus: Input should be a valid integer"),
    ("[[vms]]\nhostile = 'mean'\n", "vms.0.hostile: Input should be"),
    ("nope = 1\n", "nope: Extra inputs are not permitted"),
    ("duration_ns = \n", "invalid TOML"),
]


@pytest.mark.parametrize(("text", "message"), SCENARIO_CASES, ids=[m.split(":")[0] for _, m in SCENARIO_CASES])
def test_scenario_file_errors_name_the_field(irqfwd_error, tmp_path: Path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "s.toml"
    f.write_text(text)
    err = irqfwd_error("run", str(f), *SHORT)
    assert f"{f}: " in err
    assert message.replace("Value error, ", "") in err


def test_scenario_file_that_is_a_directory_or_not_text(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "dir.toml"
    d.mkdir()
    assert "dir.toml: cannot read: Is a directory" in irqfwd_error("run", str(d))
    b = tmp_path / "bin.toml"
    b.write_bytes(b"\xff\xfe\x00")
    assert "bin.toml: not a UTF-8 text file" in irqfwd_error("run", str(b))
    assert "no such scenario file" in irqfwd_error("run", str(tmp_path / "none.toml"))


def test_unreadable_scenario_file(irqfwd_error, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """A file the user may not read (simulated: the tests may run as root)."""
    f = tmp_path / "s.toml"
    f.write_text("pcpus = 1\n")
    real = Path.read_text

    def denied(self: Path, *a, **k):  # type: ignore[no-untyped-def]
        if self == f:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", denied)
    assert "s.toml: cannot read: Permission denied" in irqfwd_error("run", str(f))


# --------------------------------------------------------------------------- --set and options

@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "devices.0.vm=2"], "devices.0.vm: device 'nic0' is assigned to VM 2"),
        (["--set", "devices.0.host_intid=16"], "devices.0.host_intid: Input should be greater than or equal to 32"),
        (["--set", "vms.0.pin=[0,0]"], "vms.0.pin: lists 2 pCPU(s) for 1 vCPU(s)"),
        (["--set", "devices.0.host_cpu=3"],
         "--set devices.0.host_cpu=3: devices.0.host_cpu: device 'nic0' routes its host interrupt to pCPU 3, "
         "but there is 1 pCPU"),
        (["--set", "devices.0.host_cpu=x"], "devices.0.host_cpu: Input should be a valid integer"),
        (["--set", "devices.7.vm=0"], "--set devices.7.vm: devices.7: index 7 out of range"),
        (["--set", "cost_profile="], "cost_profile: String should have at least 1 character"),
        (["--set", "duration=soon"], "--set duration: 'soon' is not a duration"),
        (["--set", "novalue"], "--set 'novalue': expected key=value"),
        (["--set", "vms.0.timer.oneshot_min_ns=3000000", "--set", "vms.0.timer.oneshot_max_ns=2500000"],
         "--set vms.0.timer.oneshot_min_ns=3000000: vms.0.timer: oneshot_min_ns (3000000) is above "
         "oneshot_max_ns (2500000)"),
        (["--seed", "-1", "--design", "nope"], "unknown design 'nope'"),
    ],
)
def test_set_and_options(irqfwd_error, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    assert message in irqfwd_error("run", "nic-level", *args)


def test_msix_host_cpu_under_gicv4_direct_injection(irqfwd_error, irqfwd) -> None:  # type: ignore[no-untyped-def]
    """An MSI-X device's host_cpu under GICv4 direct injection: its vectors are vLPIs, and
    Linux's ``its_set_affinity`` refuses a forwarded LPI (-EINVAL); ``run`` refuses the
    design with one line naming the field (exit 2), ``compare`` leaves it out."""
    err = irqfwd_error("run", "msix-nic", *SHORT, "--set", "devices.0.host_cpu=1", "--design", "gicv4-direct")
    assert err.startswith("irqfwd: error: devices.0.host_cpu: design 'gicv4-direct' maps the MSI-X vectors "
                          "of device 'mq0' to vLPIs"), err
    err = irqfwd_error("run", "msix-nic", *SHORT, "--set", "devices.0.host_cpu=2")
    assert "devices.0.host_cpu: device 'mq0' routes its host interrupts to pCPU 2, but there are 2 pCPUs" in err
    res = irqfwd("compare", "msix-nic", *SHORT, "--set", "devices.0.host_cpu=1", "--json")
    assert res.code == 0, res.err
    assert list(json.loads(res.out)["designs"]) == ["its-emulated"]


def test_set_checks_across_fields_after_the_last_assignment() -> None:
    """A change checked across fields may take two assignments in either order (irqfwd
    measure sets a 10 s one-shot timer: oneshot_min_ns first, above the default max);
    only a configuration still invalid after the last one is an error, naming the first
    assignment that made it invalid."""
    from irqfwd.errors import InputError
    from irqfwd.scenarios.builtin import apply_overrides, get_scenario

    ten_s = 10_000_000_000
    cfg = apply_overrides(get_scenario("vtimer-tick"), [
        f"vms.0.timer.oneshot_min_ns={ten_s}", f"vms.0.timer.oneshot_max_ns={ten_s}"])
    assert (cfg.vms[0].timer.oneshot_min_ns, cfg.vms[0].timer.oneshot_max_ns) == (ten_s, ten_s)
    with pytest.raises(InputError, match=r"^--set devices\.0\.host_intid=16: .*greater than or equal to 32"):
        apply_overrides(get_scenario("nic-level"), ["devices.0.host_intid=16", "duration=1ms"])


# --------------------------------------------------------------------------- cost profiles

@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("exception_entry_ns = -5\n", "exception_entry_ns: Input should be greater than or equal to 0"),
        ("bogus_ns = 1\n", "bogus_ns: Extra inputs are not permitted"),
        ("hz = = 1\n", "invalid TOML"),
        ("", "missing field(s) exception_entry_ns, exception_return_ns"),
    ],
)
def test_cost_profile_errors(irqfwd_error, tmp_path: Path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "p.toml"
    f.write_text(text)
    err = irqfwd_error("run", "nic-level", "--set", f"cost_profile={f}")
    assert f"cost_profile '{f}'" in err and message in err
    assert message in irqfwd_error("calibrate", "--profile", str(f))


def test_cost_profile_directory_and_binary(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "d.toml"
    d.mkdir()
    assert "d.toml: is a directory, not a cost profile" in irqfwd_error("run", "nic-level", "--set", f"cost_profile={d}")
    assert "d.toml: is a directory, not a cost profile" in irqfwd_error("calibrate", "--profile", str(d))
    b = tmp_path / "b.toml"
    b.write_bytes(b"\xff\xfe")
    assert "b.toml: not a UTF-8 text file" in irqfwd_error("calibrate", "--profile", str(b))


# --------------------------------------------------------------------------- register scripts

@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("w8 0x8000428 256\n", "r.regs:1: value 0x100 does not fit a 8-bit write"),
        ("r 0x9000000\n", "r.regs:1: address 0x9000000 is not in a GIC frame"),
        ("r 0x8000002\n", "r.regs:1: address 0x8000002 is not aligned for a 32-bit access"),
        ("cpu 5\n", "r.regs:1: CPU 5 out of range"),
        ("line spi2000 1\n", "r.regs:1: SPI INTID 2000 out of range"),
        ("line ppi16 2\n", "r.regs:1: level must be 0 or 1"),
        ("jump 0\n", "r.regs:1: unknown statement 'jump'"),
        ("r -4\n", "r.regs:1: bad address '-4'"),
    ],
)
def test_register_script_errors(irqfwd_error, tmp_path: Path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "r.regs"
    f.write_text(text)
    assert message in irqfwd_error("regs", "run", str(f))


# --------------------------------------------------------------------------- replay files

def _valid_replay(tmp_path: Path) -> dict:  # type: ignore[type-arg]
    from irqfwd.scenarios.builtin import get_scenario
    from irqfwd.sim.costs import load_profile
    from irqfwd.system.explore import ExploreOptions, explore_design, write_replay

    rep = explore_design(get_scenario("explore-2x2"), "fault-no-teardown-deactivate", seed=0,
                         costs=load_profile("altra"), options=ExploreOptions(max_deviations=0, stop_after=1))
    path = tmp_path / "ok.json"
    write_replay(path, rep.counterexamples[0])
    return json.loads(path.read_text())


def test_replay_file_errors_name_the_field(irqfwd_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = _valid_replay(tmp_path)
    cases: list[tuple[object, str]] = [
        ("[1, 2", "not a replay file: invalid JSON"),
        ([], "not a replay file: expected a JSON object"),
        ({**good, "format": "other/9"}, "field 'format' must be 'irqfwd-replay/2'"),
        ({k: v for k, v in good.items() if k != "seed"}, "missing field 'seed'"),
        ({**good, "seed": "zero"}, "field 'seed' must be int, got str"),
        ({**good, "design": "psychic"}, "field 'design': unknown design 'psychic'"),
        ({**good, "extra": 1}, "unknown field 'extra'"),
        ({**good, "scenario": {**good["scenario"], "pcpus": 0}}, "scenario.pcpus: Input should be greater than or equal to 1"),
        ({**good, "costs": {**good["costs"], "gicd_access_ns": -1}}, "costs.gicd_access_ns"),
        ({**good, "explore": {**good["explore"], "env_window_ns": -1}}, "explore: field 'env_window_ns' must be >= 0"),
        ({**good, "choices": [{"point": 3, "choice": 0, "time_ns": 0, "ran": "x", "instead_of": "y", "candidates": 2}]},
         "choices[0]: field 'choice' must be >= 1"),
        ({**good, "choices": [{"point": 3, "choice": 1, "time_ns": 0, "ran": "x", "instead_of": "y", "candidates": 2}]},
         "the model no longer follows this replay"),
    ]
    for n, (doc, message) in enumerate(cases):
        f = tmp_path / f"r{n}.json"
        f.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        err = irqfwd_error("run", "--replay", str(f))
        assert f"{f}: " in err and message in err, (n, err)
    d = tmp_path / "dir.json"
    d.mkdir()
    assert "is a directory, not a replay file" in irqfwd_error("run", "--replay", str(d))


# --------------------------------------------------------------------------- trace CSV

@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "t.csv:1: empty trace file"),
        ("when\n5\n", "t.csv:1: no time_ns column"),
        ("time_ns\nsoon\n", "t.csv:2: time_ns 'soon' is not an integer"),
        ("time_ns\n-4\n", "t.csv:2: time_ns -4 is negative"),
        ("time_ns\n9\n3\n", "t.csv:3: time_ns 3 is earlier than the previous row (9)"),
    ],
)
def test_trace_csv_errors(irqfwd_error, tmp_path: Path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    csv = tmp_path / "t.csv"
    csv.write_text(text)
    scen = tmp_path / "s.toml"
    scen.write_text("[[devices]]\n[devices.traffic]\npattern = 'trace'\ntrace_csv = 't.csv'\n")
    assert message in irqfwd_error("run", str(scen), *SHORT)


# --------------------------------------------------------------------------- output files

def test_trace_never_overwrites_the_input_and_never_half_writes(irqfwd_error, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """--trace never names the file the run reads; bad input leaves an existing trace as it
    was; a run that fails while the trace streams (the trace sink of irqfwd.trace writes a
    temporary file renamed at the end) leaves it too, and no temporary file."""
    scen = tmp_path / "s.toml"
    scen.write_text("duration_ns = 50000\n")
    assert "is the scenario file; refusing to overwrite it" in irqfwd_error("run", str(scen), "--trace", str(scen))
    assert scen.read_text() == "duration_ns = 50000\n"
    # bad input after a good --trace: the existing trace file is left as it was
    out = tmp_path / "trace.txt"
    out.write_text("old trace\n")
    irqfwd_error("run", "nic-level", "--set", "pcpus=0", "--trace", str(out))
    assert out.read_text() == "old trace\n"
    # a run that fails while the trace streams leaves the old file and no temporary file
    import irqfwd.system.run as run
    from irqfwd.scenarios.builtin import get_scenario

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run, "_simulate", boom)
    with pytest.raises(OSError):
        run.run_scenario(get_scenario("nic-level"), "forwarded", trace=out)
    assert out.read_text() == "old trace\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml", "trace.txt"]


def test_trace_file_is_created_readable(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "t.txt"
    res = irqfwd("run", "nic-level", *SHORT, "--trace", str(out), "--json")
    assert res.code == 0 and out.read_text().startswith("# tracer:")
    assert oct(out.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
