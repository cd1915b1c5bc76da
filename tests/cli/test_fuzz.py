"""Fuzzing every parser of user input (issue 13 §4) with hypothesis.

Each parser gets random text and random near-valid documents (the real field names with
random values, mutated replay files, ...).  The property is the same everywhere: the input
is accepted, or rejected with :class:`~irqfwd.errors.InputError` (the CLI's exit status 2
and one message); never any other exception.  The CLI itself is fuzzed with random
argument vectors: exit status 0, 1 or 2, never a traceback.

``IRQFWD_FUZZ_EXAMPLES`` sets the examples per parser (default 150 in CI); with
``IRQFWD_FUZZ_REPORT=FILE`` the number of inputs each parser was fed is written to FILE (JSON);
the counts of a larger local run are in ``docs/verification.md``.
"""

from __future__ import annotations

import json
import os
import string
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from irqfwd.errors import InputError

EXAMPLES = int(os.environ.get("IRQFWD_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

_TMP = Path(tempfile.mkdtemp(prefix="irqfwd-fuzz-"))
COUNTS: dict[str, int] = {}


def _count(name: str) -> None:
    COUNTS[name] = COUNTS.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Any:
    yield
    path = os.environ.get("IRQFWD_FUZZ_REPORT")
    if path:
        Path(path).write_text(json.dumps(dict(sorted(COUNTS.items())), indent=2) + "\n")

# --------------------------------------------------------------------------- strategies

SCENARIO_KEYS = ["name", "description", "duration_ns", "seed", "pcpus", "num_lrs", "host_at_el2", "vms",
                 "devices", "guest", "scheduler", "cost_profile", "host"]
VM_KEYS = ["name", "vcpus", "pin", "timer", "hostile"]
DEV_KEYS = ["name", "kind", "vm", "vcpu", "trigger", "host_intid", "guest_intid", "traffic", "handler_ns",
            "threaded", "napi", "napi_budget", "coalesce_ns", "host_cpu"]
TRAFFIC_KEYS = ["pattern", "rate_hz", "burst_size", "burst_gap_ns", "trace_csv", "start_ns", "count"]
TIMER_KEYS = ["enabled", "mode", "hz", "oneshot_min_ns", "oneshot_max_ns", "guest_busy"]

scalars = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, 1, 2, 3, 8, 16, 27, 31, 32, 48, 49, 1019, 1020, 1023, 1024, -1]),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["level", "edge", "periodic", "poisson", "burst", "trace", "pinned", "round-robin",
                     "altra", "never-eoi", "gicd-fuzz", "current", "5.8", "oneshot", "nic"]),
)


def _table(keys: list[str], inner: dict[str, Any]) -> Any:
    values = st.one_of(scalars, st.lists(st.integers(-2, 10), max_size=4))
    entries = [(k, inner.get(k, values)) for k in keys]
    return st.lists(st.sampled_from(entries), max_size=6).flatmap(
        lambda picked: st.fixed_dictionaries({k: v for k, v in picked}))


traffic = _table(TRAFFIC_KEYS, {})
device = _table(DEV_KEYS, {"traffic": traffic})
vm = _table(VM_KEYS, {"timer": _table(TIMER_KEYS, {})})
scenario_docs = _table(SCENARIO_KEYS, {"vms": st.lists(vm, max_size=3), "devices": st.lists(device, max_size=3)})


def _toml(doc: Any, prefix: str = "") -> str:
    """A TOML rendering of ``doc`` (tables and arrays of tables, scalars as TOML values)."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for k, v in doc.items():
        if isinstance(v, dict) or (isinstance(v, list) and v and all(isinstance(x, dict) for x in v)):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {_value(v)}")
    out = "\n".join(lines) + "\n"
    for k, v in tables:
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out += f"[{name}]\n" + _toml(v, name + ".")
        else:
            for item in v:
                out += f"[[{name}]]\n" + _toml(item, name + ".")
    return out


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v) if v == v else "0.0"
    return str(v)


def _file(name: str, data: str | bytes) -> Path:
    p = _TMP / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data)
    return p


def _only_input_error(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except InputError as exc:
        assert str(exc), "an InputError must say what is wrong"
        return None


# --------------------------------------------------------------------------- scenario TOML

@FUZZ
@given(doc=scenario_docs)
def test_fuzz_scenario_documents(doc: dict[str, Any]) -> None:
    _count("scenario_documents")
    from irqfwd.scenarios.builtin import load_scenario

    _only_input_error(load_scenario, str(_file("fuzz.toml", _toml(doc))))


@FUZZ
@given(text=st.text(alphabet=string.printable + "[]=\"'é\x00", max_size=200))
def test_fuzz_scenario_text(text: str) -> None:
    _count("scenario_text")
    from irqfwd.scenarios.builtin import load_scenario

    _only_input_error(load_scenario, str(_file("fuzz.toml", text)))


@FUZZ
@given(data=st.binary(max_size=64))
def test_fuzz_scenario_bytes(data: bytes) -> None:
    _count("scenario_bytes")
    from irqfwd.scenarios.builtin import load_scenario

    _only_input_error(load_scenario, str(_file("fuzz.toml", data)))


# --------------------------------------------------------------------------- --set

SET_KEYS = ["rate", "duration", "trigger", "pattern", "vms", "vcpus", "pcpus", "lrs", "seed", "num_lrs",
            "devices.0.vm", "devices.0.host_intid", "devices.0.host_cpu", "devices.0.traffic.count", "devices.1.vm", "vms.0.pin",
            "vms.0.hostile", "vms.0.timer.hz", "scheduler.policy", "host.kernel", "cost_profile",
            "devices.0.traffic.pattern", "nope", "devices.x", "", "devices.0"]


@FUZZ
@given(items=st.lists(st.tuples(st.sampled_from(SET_KEYS) | st.text(max_size=8),
                                st.sampled_from(["", "0", "1", "-1", "5ms", "20k", "[0]", "[0,1]", "{}",
                                                 "none", "true", "edge", "burst", "x", "1e9", "2.5"])
                                | st.text(max_size=8)),
                      min_size=1, max_size=4),
       raw=st.booleans())
def test_fuzz_set_overrides(items: list[tuple[str, str]], raw: bool) -> None:
    _count("set_overrides")
    from irqfwd.scenarios.builtin import apply_overrides, get_scenario

    assignments = [k if raw and not v else f"{k}={v}" for k, v in items]
    for name in ("nic-level", "two-vms-one-pcpu"):
        _only_input_error(apply_overrides, get_scenario(name), assignments)


# --------------------------------------------------------------------------- cost profiles

def _profile_or_value_error(path: Path) -> None:
    from irqfwd.sim.costs import load_profile

    try:
        load_profile(str(path))
    except ValueError as exc:  # the callers turn it into InputError naming the option
        assert str(path) in str(exc)


@FUZZ
@given(fields=st.dictionaries(st.sampled_from(["gicd_access_ns", "exception_entry_ns", "name", "x_ns",
                                                "kick_ipi_ns", "description"]) | st.text(min_size=1, max_size=6),
                              scalars, max_size=5),
       complete=st.booleans())
def test_fuzz_cost_profiles(fields: dict[str, Any], complete: bool) -> None:
    _count("cost_profiles")
    from irqfwd.sim.costs import load_profile

    base = load_profile("altra").model_dump() if complete else {}
    base.update(fields)
    body = "\n".join(f"{json.dumps(k)} = {_value(v)}" for k, v in base.items()) + "\n"
    _profile_or_value_error(_file("profile.toml", body))


@FUZZ
@given(text=st.text(max_size=120))
def test_fuzz_cost_profile_text(text: str) -> None:
    _count("cost_profile_text")
    _profile_or_value_error(_file("profile.toml", text))


# --------------------------------------------------------------------------- register scripts

REG_WORDS = ["cpu", "r", "r8", "r16", "w", "w8", "w16", "line", "isr", "0x8000000", "0x8010000", "0x8030000",
             "0x8040000", "0x8000428", "0x8041000", "ppi27", "spi48", "spi2000", "1", "0", "2", "0xFFFFFFFF",
             "-1", "#", "0b101", "1_0", "0x"]


@FUZZ
@given(lines=st.lists(st.lists(st.sampled_from(REG_WORDS) | st.text(max_size=5), max_size=4), max_size=6))
def test_fuzz_register_scripts(lines: list[list[str]]) -> None:
    _count("register_scripts")
    from irqfwd.regs.script import parse_script

    text = "\n".join(" ".join(words) for words in lines)
    script = _only_input_error(parse_script, text, "fuzz.regs")
    if script is not None:  # a script that parses also runs on the model
        from irqfwd.hw.gicv2.config import GICv2Config
        from irqfwd.regs.model import run_on_model

        run_on_model(script, GICv2Config(num_cpus=2))


# --------------------------------------------------------------------------- replay files

_REPLAY: dict[str, Any] = {}


def _good_replay() -> dict[str, Any]:
    if not _REPLAY:
        from irqfwd.scenarios.builtin import get_scenario
        from irqfwd.sim.costs import load_profile
        from irqfwd.system.explore import ExploreOptions, explore_design

        rep = explore_design(get_scenario("explore-edge"), "fault-no-teardown-deactivate", seed=0,
                             costs=load_profile("altra"), options=ExploreOptions(max_deviations=1, stop_after=1))
        _REPLAY.update(rep.counterexamples[0].as_dict())
    return json.loads(json.dumps(_REPLAY))


@FUZZ
@given(edits=st.lists(st.tuples(st.sampled_from(["format", "scenario", "design", "seed", "costs", "explore",
                                                 "choices", "violations", "extra", "scenario.pcpus",
                                                 "scenario.devices", "explore.grace_ns", "costs.lr_save_ns"]),
                                st.one_of(scalars, st.none(), st.lists(scalars, max_size=2),
                                          st.dictionaries(st.text(max_size=4), scalars, max_size=2))),
                      max_size=3),
       drop=st.lists(st.sampled_from(["format", "seed", "choices", "explore", "costs"]), max_size=2))
def test_fuzz_replay_documents(edits: list[tuple[str, Any]], drop: list[str]) -> None:
    _count("replay_documents")
    from irqfwd.system.explore import parse_replay, replay

    doc = _good_replay()
    for key, value in edits:
        node = doc
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node[last] = value
    for key in drop:
        doc.pop(key, None)
    rp = _only_input_error(parse_replay, json.dumps(doc), "fuzz.json")
    if rp is not None and rp.config.duration_ns <= 100_000 and len(rp.config.devices) <= 4:
        _only_input_error(replay, rp)


@FUZZ
@given(text=st.text(max_size=100))
def test_fuzz_replay_text(text: str) -> None:
    _count("replay_text")
    from irqfwd.system.explore import parse_replay

    _only_input_error(parse_replay, text, "fuzz.json")


# --------------------------------------------------------------------------- trace CSV

@FUZZ
@given(rows=st.lists(st.lists(st.sampled_from(["time_ns", "5", "-1", "x", "", "10", "3", " 7 ", "1e3"])
                              | st.text(max_size=4), max_size=3), max_size=6))
def test_fuzz_trace_csv(rows: list[list[str]]) -> None:
    _count("trace_csv")
    from irqfwd.devices.traffic import read_trace_csv

    text = "\n".join(",".join(r) for r in rows)
    _only_input_error(read_trace_csv, _file("trace.csv", text))


# --------------------------------------------------------------------------- the CLI

CLI_TOKENS = ["run", "compare", "explore", "list", "regs", "calibrate", "nic-level", "explore-edge",
              "missing.toml", "--design", "--designs", "forwarded", "bogus", "all", "--set", "duration=soon",
              "pcpus=0", "lrs=1", "vms=0", "--seed", "-3", "x", "--json", "--trace", "/no/dir/t.txt", "--replay",
              "-k", "--max-orderings", "0", "--env-window", "2us", "--out", "/no/such/dir/x", "--profile",
              "--quirks", "qemu", "--target", "--cpus", "9", "--help", "--keep", "--window", "-1ns", ""]


class _Stop(Exception):
    """Raised in place of a simulation once the input was accepted."""


@FUZZ
@given(argv=st.lists(st.sampled_from(CLI_TOKENS), min_size=1, max_size=6))
def test_fuzz_cli_arguments(argv: list[str], monkeypatch_module: Any, capfd: pytest.CaptureFixture[str]) -> None:
    _count("cli_arguments")
    from irqfwd.cli.main import main

    monkeypatch_module.setattr(sys, "argv", ["irqfwd", *argv])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except _Stop:
        code = 0
    out, err = capfd.readouterr()
    assert code in (0, 1, 2), (argv, code)
    assert "Traceback" not in out + err, (argv, err[-800:])
    if code == 2 and err.startswith("irqfwd: error:"):
        assert err.count("\n") == 1, err


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    """Heavy work replaced by :class:`_Stop` once argument parsing accepted the input."""
    mp = pytest.MonkeyPatch()
    import irqfwd.calibrate.microbench as microbench
    import irqfwd.system.run as run

    def stop(*a: Any, **k: Any) -> Any:
        raise _Stop

    mp.setattr(run, "build_system", stop)
    mp.setattr(microbench, "run_microbenchmarks", stop)
    yield mp
    mp.undo()
