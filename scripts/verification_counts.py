#!/usr/bin/env python3
"""Re-measure the counts of ``docs/verification.md`` (issue 13).

``scripts/verification_counts.py explore [-k K] [--designs all|correct|fault] [--scenarios S1,S2]``
explores every ``explore-*`` scenario (or those named) under every design (or the correct or
the fault ones) (``irqfwd explore``) and prints, per scenario and design, the orderings, the
states, the decision points, the states not expanded again, whether the bound was
exhausted, the time and the counter-examples by rule; then the totals.

``scripts/verification_counts.py hostile`` runs every hostile behaviour under every correct
design on ``hostile-dedicated`` and ``hostile-shared`` (:func:`irqfwd.system.isolation.run_isolation`)
and prints the victim's and the host's worst latency against the benign run, the foreign
state changes and the teardown verdict.

The stateful and fuzz counts come from the tests themselves:
``IRQFWD_STATEFUL_EXAMPLES=N IRQFWD_STATEFUL_REPORT=FILE pytest tests/hw/gicv2/test_stateful.py
tests/system/test_stateful_stack.py`` and ``IRQFWD_FUZZ_EXAMPLES=N IRQFWD_FUZZ_REPORT=FILE pytest
tests/cli/test_fuzz.py``.
"""

from __future__ import annotations

import argparse
import json
import time


def explore(k: int, which: str = "all", scenarios: list[str] | None = None) -> dict[str, object]:
    from irqfwd.scenarios.builtin import get_scenario
    from irqfwd.scenarios.explore import EXPLORE_SCENARIOS
    from irqfwd.sim.costs import load_profile
    from irqfwd.system.designs import DESIGNS
    from irqfwd.system.explore import ExploreOptions, explore_design, inapplicable

    costs = load_profile("altra")
    rows = []
    for scenario in scenarios or EXPLORE_SCENARIOS:
        for design, d in DESIGNS.items():
            if which != "all" and d.fault != (which == "fault"):
                continue
            why = inapplicable(get_scenario(scenario), design)
            if why is not None:
                print(json.dumps({"scenario": scenario, "design": design, "left_out": why}), flush=True)
                continue
            r = explore_design(get_scenario(scenario), design, seed=0, costs=costs,
                               options=ExploreOptions(max_deviations=k, max_orderings=50_000))
            row = {"scenario": scenario, **r.summary()}
            rows.append(row)
            print(json.dumps(row), flush=True)
    total = {key: sum(int(r[key]) for r in rows) for key in ("orderings", "states", "decision_points", "pruned")}
    total["seconds"] = round(sum(float(r["seconds"]) for r in rows), 1)
    found: dict[str, int] = {}
    for r in rows:
        if r["fault"]:
            found[str(r["design"])] = found.get(str(r["design"]), 0) + int(r["counterexamples"])
    total["counterexamples_per_fault_design"] = found
    total["counterexamples_in_correct_designs"] = sum(int(r["counterexamples"]) for r in rows if not r["fault"])
    return {"k": k, "rows": rows, "total": total}


def hostile() -> dict[str, object]:
    from irqfwd.guest.hostile import BEHAVIOURS
    from irqfwd.scenarios.builtin import apply_overrides, get_scenario
    from irqfwd.system.isolation import run_isolation

    rows = []
    from irqfwd.system.designs import DESIGNS

    correct = tuple(d for d, x in DESIGNS.items() if not x.fault and x.gic == "v2")
    for scenario, designs in (("hostile-dedicated", correct),
                              ("hostile-shared", ("irqfd-resample", "forwarded", "vmm-irqline"))):
        for design in designs:
            for behaviour in ("none", *BEHAVIOURS):
                cfg = apply_overrides(get_scenario(scenario), [f"vms.1.hostile={behaviour}"])
                t = time.perf_counter()
                r = run_isolation(cfg, design, hostile_vm=1, seed=1)
                spis = [v for v in r.teardown.values() if v["intid"] >= 32]
                row = {
                    "scenario": scenario, "design": design, "behaviour": behaviour,
                    "victim_max_ns": r.victim_latency_ns.get("nic0", {}).get("max"),
                    "victim_irqs": r.victim_latency_ns.get("nic0", {}).get("count"),
                    "host_max_ns": r.host_latency_ns.get("nic0", {}).get("max", 0),
                    "timer_max_ns": (r.timer_latency_ns or {}).get("max"),
                    "foreign_changes": len(r.foreign_changes),
                    "victim_violations": len(r.victim_violations),
                    "hostile_ops": r.hostile_ops,
                    "teardown_ok": all(not v["active"] and not v["pending"] and not v["vfio_masked"]
                                       and v["delivered_after_rerequest"] is True for v in spis) and bool(spis),
                    "seconds": round(time.perf_counter() - t, 2),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    return {"rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("explore", "hostile"))
    ap.add_argument("-k", type=int, default=1, help="deviations per ordering (explore)")
    ap.add_argument("--designs", choices=("all", "correct", "fault"), default="all",
                    help="explore: every design, the correct ones or the fault ones")
    ap.add_argument("--scenarios", help="explore: comma-separated explore scenarios (default: all)")
    ap.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    args = ap.parse_args()
    scenarios = args.scenarios.split(",") if args.scenarios else None
    result = explore(args.k, args.designs, scenarios) if args.what == "explore" else hostile()
    if args.what == "explore":
        print(json.dumps(result["total"], indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
