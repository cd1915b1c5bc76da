"""The ordering explorer (``irqfwd explore``): it finds the bug behind every fault design,
none in the correct designs, its counter-examples replay, and its state hash is canonical.

Sizes are bounded for CI (one deviation per ordering); ``docs/verification.md`` gives the
counts of the larger local runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from irqfwd.scenarios.builtin import get_scenario
from irqfwd.scenarios.explore import EXPLORE_SCENARIOS
from irqfwd.sim.costs import load_profile
from irqfwd.system.designs import DESIGNS
from irqfwd.system.explore import (
    ExploreOptions,
    explore_design,
    grace_for,
    inapplicable,
    load_replay,
    replay,
    write_replay,
)
from irqfwd.system.statehash import canonical_state, state_digest

SCENARIOS = EXPLORE_SCENARIOS
CORRECT = [d for d, x in DESIGNS.items() if not x.fault and x.gic == "v2"]  # the GICv2 designs
FAULTS = [d for d, x in DESIGNS.items() if x.fault]
REPLAYS = Path(__file__).parent / "replays"
COSTS = load_profile("altra")


def _explore(scenario: str, design: str, **kw):  # type: ignore[no-untyped-def]
    opts = ExploreOptions(**{"max_deviations": 1, **kw})
    return explore_design(get_scenario(scenario), design, seed=0, costs=COSTS, options=opts)


APPLICABLE = [(s, d) for d in CORRECT for s in SCENARIOS if inapplicable(get_scenario(s), d) is None]


@pytest.mark.parametrize(("scenario", "design"), APPLICABLE)
def test_no_ordering_breaks_an_invariant_in_a_correct_design(scenario: str, design: str) -> None:
    """Every ordering with one deviation (device events, workqueue items, migrations and
    timeslice ends up to 2 µs early; the teardown anywhere in the 10 µs after the end; steps
    of one instant in any order) keeps every invariant under the upstream-correct designs."""
    rep = _explore(scenario, design)
    assert rep.complete and rep.orderings > 20 and rep.states > 20
    assert [cx.violations[:2] for cx in rep.counterexamples] == []


@pytest.mark.parametrize("design", FAULTS)
def test_the_bug_of_every_fault_design_is_found(design: str) -> None:
    """Each fault variant breaks an invariant in some ordering of some explore scenario,
    and the counter-example names the rule of docs/designs.md."""
    expected = {
        "fault-level-no-eoi-bit": "level-storm",
        "fault-early-unmask": "level-storm",
        "fault-no-teardown-deactivate": "stale-active",
        "fault-hw-lr-pending-active": "hw-lr-pending-active",
        "fault-hw-retained-level": "hw-lr-phys-inactive",
        "fault-timer-clear-active": "hw-lr-phys-inactive",
    }
    assert set(expected) == set(FAULTS)
    found: set[str] = set()
    for scenario in SCENARIOS:
        rep = _explore(scenario, design, stop_after=1)
        for cx in rep.counterexamples:
            found.update(cx.rules)
        if found:
            break
    assert found, f"{design}: no counter-example in {SCENARIOS}"
    if design in expected:
        assert expected[design] in found


def test_deviations_reach_the_races_of_the_issue() -> None:
    """The deviations the explorer takes include the races that matter: a device event
    (re-assertion) ahead of guest steps (an EOI, an unmask), steps of two pCPUs at one
    instant in the other order, a migration, and the VM teardown against a handler in
    flight.  (Every ordering of
    this fault design breaks an invariant, so each one comes back as a counter-example
    whose deviations can be inspected.)"""
    rep = _explore("explore-2x2", "fault-no-teardown-deactivate")
    assert len(rep.counterexamples) == rep.orderings
    ran = {d.ran for cx in rep.counterexamples for d in cx.decisions}
    assert {"nic0 event", "nic1 event", "vCPU migration", "VM teardown", "cpu1 step"} <= ran
    assert rep.decision_points > rep.orderings > 50


def test_designs_a_scenario_does_not_apply_to() -> None:
    """vmm-irqline is QEMU's INTx path (level only): explore-edge's edge NICs rule it out,
    and it is the only such pair among the GICv2 designs (every other one explores every
    scenario); the GICv3/v4 designs need a GIC the (GICv2) explore scenarios do not have."""
    v2 = [d for d, x in DESIGNS.items() if x.gic == "v2"]
    out = [(s, d) for s in SCENARIOS for d in v2 if inapplicable(get_scenario(s), d) is not None]
    assert out == [("explore-edge", "vmm-irqline")]
    for d in set(DESIGNS) - set(v2):
        assert "needs a GIC" in str(inapplicable(get_scenario("explore-2x2"), d))
    assert "must be level-triggered" in str(inapplicable(get_scenario("explore-edge"), "vmm-irqline"))


def test_latency_bound_of_the_vmm_main_loop() -> None:
    """The checker's grace window of an ordering is 30 µs, plus one BAR memslot update
    (``vfio_mmap_set_enabled``, charged to QEMU's main loop at every interrupt) under
    vmm-irqline: explore-2x2 has an ordering (a migration 2 µs early puts vCPU 1 behind that
    main-loop step on pCPU 0) where nic1's raise is still unhandled 35 µs later, at the
    teardown: slow, not lost (the guest had acknowledged it)."""
    opts = ExploreOptions()
    assert grace_for(opts, "forwarded", COSTS) == opts.grace_ns == 30_000
    assert grace_for(opts, "vmm-irqline", COSTS) == 30_000 + COSTS.memslot_update_ns
    strict = explore_design(get_scenario("explore-2x2"), "vmm-irqline", seed=0, costs=COSTS,
                            options=ExploreOptions(max_deviations=1, grace_ns=30_000 - COSTS.memslot_update_ns))
    assert {r for cx in strict.counterexamples for r in cx.rules} == {"lost-interrupt"}
    assert [d.ran for cx in strict.counterexamples for d in cx.decisions] == ["vCPU migration"]


def test_two_deviations_prune_states_already_expanded() -> None:
    """State hashing: orderings that commute (two entries of one instant) reach the same
    state, which is not expanded twice (``pruned``); without hashing the same bound runs
    more orderings and finds nothing more."""
    cfg = get_scenario("explore-edge")
    reps = [explore_design(cfg, "forwarded", seed=0, costs=COSTS,
                           options=ExploreOptions(max_deviations=2, state_hashing=h)) for h in (True, False)]
    hashed, plain = reps
    assert hashed.complete and plain.complete
    assert hashed.pruned > 0 and plain.pruned == 0
    assert hashed.states < hashed.decision_points and hashed.orderings < plain.orderings
    assert not hashed.counterexamples and not plain.counterexamples


def test_exploration_is_deterministic() -> None:
    a = _explore("explore-edge", "forwarded-direct")
    b = _explore("explore-edge", "forwarded-direct")
    assert (a.orderings, a.states, a.decision_points) == (b.orderings, b.states, b.decision_points)


# --------------------------------------------------------------------------- state hash


def _system_at(t_ns: int):  # type: ignore[no-untyped-def]
    from irqfwd.check.invariants import InvariantChecker
    from irqfwd.system.build import build_system

    s = build_system(get_scenario("explore-2x2"), "forwarded", seed=0)
    c = InvariantChecker(s.recorder, "forwarded")
    s.machine.run(t_ns)
    return s, c


def test_state_digest_is_canonical() -> None:
    """Two systems built and run alike (different Python objects) have the same digest;
    running on changes it; a GIC register write changes it."""
    a, ca = _system_at(5_000)
    b, cb = _system_at(5_000)
    assert state_digest(a, ca) == state_digest(b, cb)
    assert canonical_state(a, ca) == canonical_state(b, cb)
    a.machine.run(6_000)
    assert state_digest(a, ca) != state_digest(b, cb)
    b.machine.run(6_000)
    assert state_digest(a, ca) == state_digest(b, cb)
    b.gic.write(b.gic.config.gicd_base + 0x430, 0x80, 1, 0)  # GICD_IPRIORITYR byte of SPI 48
    assert state_digest(a, ca) != state_digest(b, cb)


# --------------------------------------------------------------------------- replay


def test_counterexample_round_trip(tmp_path: Path) -> None:
    """A counter-example written to a file replays to the same violations."""
    rep = _explore("explore-2x2", "fault-hw-retained-level", stop_after=3)
    cx = rep.counterexamples[-1]
    path = tmp_path / "cx.json"
    write_replay(path, cx)
    again, decisions = replay(load_replay(path))
    assert [v.as_dict() for v in again.violations] == cx.violations
    assert [d.as_dict() for d in decisions] == [d.as_dict() for d in cx.decisions]


def test_write_replay_never_overwrites(tmp_path: Path) -> None:
    from irqfwd.errors import InputError

    cx = _explore("explore-2x2", "fault-level-no-eoi-bit", stop_after=1).counterexamples[0]
    path = tmp_path / "cx.json"
    path.write_text("precious")
    with pytest.raises(InputError, match="refusing to overwrite"):
        write_replay(path, cx)
    assert path.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["cx.json"]  # no temporary file left


def _replay_files() -> list[Path]:
    return sorted(REPLAYS.glob("*.json"))


@pytest.mark.parametrize("path", _replay_files(), ids=lambda p: p.stem)
def test_kept_counterexamples_replay(path: Path) -> None:
    """Regression: every kept replay file still follows the model's decision points.  The
    counter-examples of fault designs still break their rules; the ``fixed-*`` ones (bugs
    of the model the explorer found) replay without a violation now.  A file the model no
    longer follows is regenerated with ``irqfwd explore SCENARIO --out DIR``."""
    rp = load_replay(path)
    result, _ = replay(rp)
    recorded = {v["rule"] for v in rp.violations}
    got = {v.rule for v in result.violations}
    if path.stem.startswith("fixed-"):
        assert recorded and got == set(), f"{path.name}: {sorted(got)}"
    else:
        assert DESIGNS[rp.design].fault
        assert got == recorded, f"{path.name}: recorded {sorted(recorded)}, got {sorted(got)}"


def test_replay_files_are_kept() -> None:
    files = _replay_files()
    assert any(p.stem.startswith("fixed-") for p in files)
    designs = {json.loads(p.read_text())["design"] for p in files}
    assert set(FAULTS) <= designs


# --------------------------------------------------------------------------- CLI


def test_cli_explore_reports_counts_and_writes_replays(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "cx"
    res = irqfwd("explore", "explore-2x2", "--designs", "forwarded,fault-no-teardown-deactivate",
                 "-k", "1", "--out", str(out), "--keep", "1", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    by = {d["design"]: d for d in doc["designs"]}
    assert by["forwarded"]["counterexamples"] == 0 and by["forwarded"]["ok"]
    assert by["fault-no-teardown-deactivate"]["counterexamples"] > 0
    for key in ("orderings", "states", "seconds"):
        assert by["forwarded"][key] > 0
    files = sorted(out.iterdir())
    assert len(files) == 1
    again = irqfwd("run", "--replay", str(files[0]), "--json")
    assert again.code == 1  # the violation is reproduced
    assert json.loads(again.out)["replay"]["reproduced"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explore", "explore-2x2", "--designs", "nope"], "--designs: unknown design 'nope'"),
        (["explore", "explore-2x2", "--env-window", "soon"], "--env-window: 'soon' is not a duration"),
        (["explore", "explore-2x2", "-k", "-1"], "--deviations"),
        (["run", "--replay", "x.json", "nic-level"], "--replay: the replay file fixes"),
        (["run"], "missing SCENARIO"),
    ],
)
def test_cli_bad_input(irqfwd, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    res = irqfwd(*args)
    assert res.code == 2 and message in res.err
    assert "Traceback" not in res.err + res.out


def test_cli_explore_leaves_out_a_design_the_scenario_does_not_apply_to(irqfwd) -> None:  # type: ignore[no-untyped-def]
    res = irqfwd("explore", "explore-edge", "--designs", "forwarded,vmm-irqline")
    assert res.code == 2 and ("--designs: not for scenario 'explore-edge': design 'vmm-irqline' is QEMU's INTx path"
                              in res.err)
    assert "Traceback" not in res.err + res.out
    # a few orderings per design are enough to see which designs ran (the exhaustive
    # exploration of explore-edge is checked by the tests above)
    res = irqfwd("explore", "explore-edge", "--json", "--max-orderings", "20")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert "vmm-irqline" in doc["designs_left_out"]
    assert {d["design"] for d in doc["designs"]} == {d for d, x in DESIGNS.items() if x.gic == "v2"} - {"vmm-irqline"}


def test_cli_explore_out_must_be_new_or_empty(irqfwd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "keep.txt").write_text("mine")
    res = irqfwd("explore", "explore-2x2", "--out", str(tmp_path))
    assert res.code == 2 and "not empty; refusing to overwrite" in res.err
    f = tmp_path / "keep.txt"
    res = irqfwd("explore", "explore-2x2", "--out", str(f))
    assert res.code == 2 and "not a directory" in res.err
    assert f.read_text() == "mine"
